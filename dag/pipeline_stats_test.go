package dag_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tangled-ledger/tangled/dag"
	"github.com/tangled-ledger/tangled/dag/dagtest"
)

// TestPipelineStats: each answer is counted once under its status and
// rejections under their codes; work and signature checks are counted
// where they run.
func TestPipelineStats(t *testing.T) {
	h := newHarness(t, 1, dagtestRules(), nil)
	p := runPipeline(t, h.l, dag.PipelineConfig{})
	root := h.l.Root()
	dev := dagtest.NewIssuer("dev", dagtestRules())
	a := dev.Issue(dag.KindData, root, root, at(time.Second), []byte("a"))
	b := dev.Issue(dag.KindData, a.ID(), root, at(2*time.Second), []byte("b"))
	unseen := dagtest.NewIssuer("unseen", dagtestRules()).Issue(dag.KindData, root, root, at(time.Second), nil)
	orphan := dagtest.NewIssuer("orphan", dagtestRules()).Issue(dag.KindData, unseen.ID(), root, at(time.Second), nil)
	badSig := append([]byte(nil), dagtest.NewIssuer("forger", dagtestRules()).Issue(dag.KindData, root, root, at(time.Second), []byte("s")).Bytes()...)
	badSig[len(badSig)-9] ^= 1 // the signature's last byte
	forged, err := dag.Decode(badSig, dag.DefaultMaxPayload)
	if err != nil {
		t.Fatal(err)
	}
	for !powOK(forged, dagtestRules().Required(len(forged.Payload), 0)) {
		forged.Nonce++
	}
	badSig = forged.Bytes()
	lowWork := dagtest.NewIssuer("lazy", dagtestRules()).Build(dag.KindData, root, root, at(time.Second), nil)
	for powOK(lowWork, dagtestRules().Required(0, 0)) {
		lowWork.Nonce++
	}

	ctx := context.Background()
	p.SubmitMany(ctx, [][]byte{a.Bytes(), []byte("junk")})
	p.SubmitMany(ctx, [][]byte{b.Bytes(), a.Bytes(), orphan.Bytes(), badSig, lowWork.Bytes()})

	got := p.Stats()
	type counts struct {
		Attached, Duplicate, Parked, Rejected uint64
		RejectedByCode                        map[string]uint64
		WorkChecked, WorkFailed               uint64
		SignaturesChecked, SignaturesFailed   uint64
	}
	want := counts{
		Attached: 2, Duplicate: 1, Parked: 1, Rejected: 3,
		RejectedByCode: map[string]uint64{"malformed": 1, "bad_signature": 1, "insufficient_work": 1},
		// Work is checked before duplicates are looked up: every decoded
		// transaction is counted. The verifiers see a, b, the orphan and
		// the forgery.
		WorkChecked: 6, WorkFailed: 1,
		SignaturesChecked: 4, SignaturesFailed: 1,
	}
	gotCounts := counts{
		got.Attached, got.Duplicate, got.Parked, got.Rejected, got.RejectedByCode,
		got.WorkChecked, got.WorkFailed, got.SignaturesChecked, got.SignaturesFailed,
	}
	if diff := cmp.Diff(want, gotCounts); diff != "" {
		t.Fatalf("stats (-want +got):\n%s", diff)
	}
	if got.VerifyBatches == 0 || got.AttachBatches == 0 || got.CommitBatches == 0 || got.VerifyTime <= 0 || got.CommitTime <= 0 {
		t.Errorf("stage counters not moving: %+v", got)
	}
	if got.VerifyQueueCap != dag.DefaultQueueLength || got.VerifyQueue != 0 {
		t.Errorf("verify queue %d of %d; want 0 of %d", got.VerifyQueue, got.VerifyQueueCap, dag.DefaultQueueLength)
	}
}

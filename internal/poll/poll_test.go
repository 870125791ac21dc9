package poll_test

import (
	"strings"
	"testing"
	"time"

	"github.com/tangled-ledger/tangled/internal/poll"
)

// fakeTB records a failure instead of stopping the goroutine.
type fakeTB struct {
	testing.TB
	failed string
}

func (f *fakeTB) Helper() {}
func (f *fakeTB) Fatalf(format string, args ...any) {
	f.failed = format
	if len(args) > 1 {
		f.failed = args[1].(string)
	}
}

func TestUntil(t *testing.T) {
	n := 0
	poll.Until(t, time.Second, "three checks", func() bool { n++; return n == 3 })
	if n != 3 {
		t.Fatalf("checked %d times", n)
	}
	f := &fakeTB{TB: t}
	calls := 0
	poll.Until(f, 20*time.Millisecond, "never", func() bool {
		calls++
		return f.failed != "" // stop once it has failed
	})
	if !strings.Contains(f.failed, "never") || calls < 2 {
		t.Fatalf("failure %q after %d checks", f.failed, calls)
	}
}

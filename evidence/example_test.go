package evidence_test

import (
	"fmt"

	"github.com/tangled-ledger/tangled/evidence"
	"github.com/tangled-ledger/tangled/merkle"
)

// A checkpoint's text is what validators sign: the C2SP tlog-checkpoint
// body, origin, size and base64 root, one per line.
func ExampleCheckpoint_Text() {
	c := evidence.Checkpoint{Origin: "tangled/5d0c", Size: 3, Root: merkle.LeafHash([]byte("example"))}
	fmt.Print(c.Text())
	back, err := evidence.ParseCheckpointText(c.Text())
	fmt.Println(back == c, err)
	// Output:
	// tangled/5d0c
	// 3
	// C65pPpLZgjm4owaKUAjFZ7NtZDlYe7M6zcOzB2eWOp8=
	// true <nil>
}

package network

// Test-only hooks for the external tests (package network_test), which play
// a peer that speaks the wire protocol by hand. The wire layout is:
//
//	stream:   preamble | frame*
//	preamble: 'T' 'G' 'L' | version u8 | purpose u8
//	frame:    type u8 | payload length u32 (big-endian) | payload

// Stream purposes.
const (
	PurposeGossip  = byte(purposeGossip)
	PurposeRequest = byte(purposeRequest)
	PurposeSync    = byte(purposeSync)
)

// Frame types.
const (
	FrameTx          = frameTx
	FrameHeartbeat   = frameHeartbeat
	FrameRequest     = frameRequest
	FrameSyncRequest = frameSyncRequest
	FrameSyncTx      = frameSyncTx
	FrameSyncEnd     = frameSyncEnd
)

// AppendPreamble appends a stream preamble for purpose p.
func AppendPreamble(dst []byte, p byte) []byte { return appendPreamble(dst, purpose(p)) }

// AppendFrame appends one frame whose payload is the concatenation of parts.
var AppendFrame = appendFrame

// MaxFrame is the payload limit of frame type t on a network whose
// transactions carry at most maxPayload bytes of payload.
var MaxFrame = maxFrame

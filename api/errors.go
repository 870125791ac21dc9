package api

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/tangled-ledger/tangled/dag"
	"github.com/tangled-ledger/tangled/device"
)

// The API's own error codes; the others are dag's (dag.Code).
const (
	codeBodyTooLarge     = "body_too_large"
	codeUnsupportedMedia = "unsupported_media_type"
	codeRateLimited      = "rate_limited"
	codeOverloaded       = "overloaded"
	codeNotFound         = "not_found"
	// codePruned is dag.ErrPruned's code: confirmed here, then pruned.
	codePruned           = "pruned"
	codeMethodNotAllowed = "method_not_allowed"
	codeMalformed        = "malformed"
	codeClosed           = "closed"
	codeInternal         = "internal"
	// CodeNodeWorkRefused: the node will not solve this transaction's
	// work on its device's behalf (POST /v1/transactions?work=node).
	CodeNodeWorkRefused = "node_work_refused"
)

// statusOf is the contract's table of codes and HTTP statuses. A code that
// is not here (a dag code the API never expects) is reported as internal.
var statusOf = map[string]int{
	"malformed":          http.StatusBadRequest,
	"bad_version":        http.StatusBadRequest,
	"bad_kind":           http.StatusBadRequest,
	"trailing_bytes":     http.StatusBadRequest,
	"payload_too_large":  http.StatusRequestEntityTooLarge,
	codeBodyTooLarge:     http.StatusRequestEntityTooLarge,
	codeUnsupportedMedia: http.StatusUnsupportedMediaType,
	"bad_signature":      http.StatusUnprocessableEntity,
	"insufficient_work":  http.StatusUnprocessableEntity,
	"future_time":        http.StatusUnprocessableEntity,
	"broken_chain":       http.StatusConflict,
	"not_validator":      http.StatusForbidden,
	"not_authority":      http.StatusForbidden,
	codeRateLimited:      http.StatusTooManyRequests,
	codeOverloaded:       http.StatusTooManyRequests,
	"parked_full":        http.StatusTooManyRequests,
	codeNotFound:         http.StatusNotFound,
	codePruned:           http.StatusGone,
	codeMethodNotAllowed: http.StatusMethodNotAllowed,
	codeClosed:           http.StatusServiceUnavailable,
	"store_failure":      http.StatusInternalServerError,
	codeInternal:         http.StatusInternalServerError,
	CodeEvidencePending:  http.StatusConflict,
	CodeBeyondLog:        http.StatusNotFound,

	// The device layer's rule codes (device.Codes): verdicts on the
	// transaction's past. 403: the issuer may not write (or act) now; 409:
	// the action clashes with the device's state; 422: the control
	// transaction names what its past does not have.
	device.CodeUnregistered:      http.StatusForbidden,
	device.CodeSuspended:         http.StatusForbidden,
	device.CodeRevoked:           http.StatusForbidden,
	device.CodeQuarantined:       http.StatusForbidden,
	device.CodeNotOwner:          http.StatusForbidden,
	device.CodeClassNotAllowed:   http.StatusForbidden,
	device.CodeDeviceExists:      http.StatusConflict,
	device.CodeInvalidTransition: http.StatusConflict,
	device.CodeUnknownDevice:     http.StatusUnprocessableEntity,
	device.CodeKeyNotCommitted:   http.StatusUnprocessableEntity,
	device.CodeBadQuarantine:     http.StatusUnprocessableEntity,
	// Policies: a denial is like a lifecycle refusal (the issuer may not
	// write this); a policy that cannot be installed is a control
	// transaction the network cannot process; an old version clashes
	// with the one in force.
	device.CodePolicyDenied:    http.StatusForbidden,
	device.CodePolicyInvalid:   http.StatusUnprocessableEntity,
	device.CodePolicyTooCostly: http.StatusUnprocessableEntity,
	device.CodePolicyOutdated:  http.StatusConflict,

	// Firmware releases (issue 12), in the same spirit: a key that may
	// not approve is 403; a release that does not go forward or a second
	// approval clashes (409); a report or approval whose past lacks what
	// it names, or that contradicts it, is 422.
	device.CodeNotApprover:      http.StatusForbidden,
	device.CodeKeyRetired:       http.StatusForbidden,
	device.CodeFirmwareRollback: http.StatusConflict,
	device.CodeAlreadyApproved:  http.StatusConflict,
	device.CodeUnknownRelease:   http.StatusUnprocessableEntity,
	device.CodeWrongTarget:      http.StatusUnprocessableEntity,
	device.CodeDigestMismatch:   http.StatusUnprocessableEntity,
	device.CodeReleaseNotActive: http.StatusUnprocessableEntity,
	device.CodeReleaseRequires:  http.StatusUnprocessableEntity,
	// Hosted images: more bytes than the release signed (or than the
	// node hosts) is 413, fewer 422.
	CodeImageTooLarge:     http.StatusRequestEntityTooLarge,
	CodeImageSizeMismatch: http.StatusUnprocessableEntity,

	CodeNodeWorkRefused: http.StatusForbidden,
}

// apiFault is whose fault the API's own rejections are; the ledger's
// come with theirs (dag.FaultOf).
var apiFault = map[string]dag.Fault{
	codeMalformed:        dag.FaultSender,
	codeBodyTooLarge:     dag.FaultSender,
	codeUnsupportedMedia: dag.FaultSender,
	// Asking for work the device's policy does not grant costs the
	// client like any other refused request.
	CodeNodeWorkRefused:   dag.FaultSender,
	CodeImageTooLarge:     dag.FaultSender,
	CodeImageSizeMismatch: dag.FaultSender,
}

// WorkError is a Worker's refusal: code node_work_refused (403), or
// rate_limited (429) with Retry-After when the device's allowance or the
// node's solver budget is spent.
type WorkError struct {
	Code       string
	Message    string
	RetryAfter time.Duration
}

func (e *WorkError) Error() string { return e.Message }

// Retry-After for the 429s that no limiter times: the ingest queue drains
// in well under a second, parked transactions wait for peers to deliver
// their parents.
const (
	retryOverloaded = time.Second
	retryParkedFull = 5 * time.Second
)

// apiError is a rejection on its way to the client.
type apiError struct {
	code    string
	message string
	// retry is the Retry-After of a 429; zero for other statuses.
	retry time.Duration
	// fault says whether the sender caused it: such rejections are
	// charged to the client's junk budget (Config.JunkRate).
	fault dag.Fault
}

// senderFault reports whether e is charged to the sender's junk budget.
func (e *apiError) senderFault() bool { return e.fault != dag.FaultNone }

func (e *apiError) Error() string { return "api: " + e.code + ": " + e.message }

func newError(code, message string) *apiError {
	e := &apiError{code: code, message: message, fault: apiFault[code]}
	switch code {
	case codeOverloaded:
		e.retry = retryOverloaded
	case "parked_full":
		e.retry = retryParkedFull
	}
	return e
}

// errorOf maps an error from the ledger, the backend or this package to
// its code and message.
func errorOf(err error) *apiError {
	var ae *apiError
	if errors.As(err, &ae) {
		return ae
	}
	var we *WorkError
	if errors.As(err, &we) {
		e := newError(we.Code, we.Message)
		e.retry = we.RetryAfter
		return e
	}
	code, fault := dag.Code(err), dag.FaultOf(err)
	if _, ok := statusOf[code]; !ok {
		// A rule layer's own code (a dag.Rejection): the sender's doing
		// is 422 like the ledger's own verdicts; anything else is ours.
		if fault == dag.FaultNone {
			code = codeInternal
		}
	}
	e := newError(code, err.Error())
	e.fault = fault
	return e
}

// statusFor is the HTTP status of a code: the contract's table, 422 for a
// rule layer's code that is the sender's fault, 500 otherwise.
func statusFor(e *apiError) int {
	if status, ok := statusOf[e.code]; ok {
		return status
	}
	if e.fault != dag.FaultNone {
		return http.StatusUnprocessableEntity
	}
	return http.StatusInternalServerError
}

// errorBody is the contract's error object.
type errorBody struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

func writeError(w http.ResponseWriter, e *apiError) {
	countError(w, e)
	status := statusFor(e)
	if status == http.StatusTooManyRequests {
		setRetryAfter(w, max(e.retry, time.Second))
	} else if e.retry > 0 {
		setRetryAfter(w, e.retry)
	}
	writeJSON(w, status, errorBody{Code: e.code, Message: e.message})
}

// setRetryAfter writes whole seconds, rounded up: a client that waits
// exactly that long finds the tokens it needs.
func setRetryAfter(w http.ResponseWriter, d time.Duration) {
	secs := max(int64((d+time.Second-1)/time.Second), 1)
	w.Header().Set("Retry-After", strconv.FormatInt(secs, 10))
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		// Every response type marshals; reaching this is a bug here.
		status = http.StatusInternalServerError
		body, _ = json.Marshal(errorBody{Code: codeInternal, Message: "api: encoding response: " + err.Error()})
	}
	writeRaw(w, status, "application/json", append(body, '\n'))
}

func writeRaw(w http.ResponseWriter, status int, contentType string, body []byte) {
	h := w.Header()
	h.Set("Content-Type", contentType)
	h.Set("Content-Length", strconv.Itoa(len(body)))
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

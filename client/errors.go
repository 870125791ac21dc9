package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/tangled-ledger/tangled/dag"
	"github.com/tangled-ledger/tangled/device"
)

var (
	// ErrConflicting reports an equivocation: the issuer's key signed two
	// transactions with one sequence number (a cloned or stolen key). The
	// transaction will never be confirmed and the issuer is quarantined;
	// the device needs a new key.
	ErrConflicting = errors.New("client: conflicting transaction (cloned key?)")
	// ErrLagged: the node dropped an event stream that could not keep up.
	// Events were lost; reconnect and re-read what matters.
	ErrLagged = errors.New("client: event stream lagged behind and was closed")
	// ErrStreamClosed: the node ended an event stream.
	ErrStreamClosed = errors.New("client: event stream closed by the node")
	// ErrStreamIdle: an event stream delivered nothing, not even a
	// keep-alive, for StreamIdleTimeout; the connection is presumed dead.
	ErrStreamIdle = errors.New("client: event stream idle")
)

// APIError is a response of the node outside 2xx. Code is the contract's
// stable machine code ("insufficient_work", "rate_limited", ...), empty
// when the body was not the contract's error form (a proxy's error page,
// for instance). errors.Is(err, dag.ErrWork) and the like hold for the codes
// that name a dag sentinel.
type APIError struct {
	Status  int    // HTTP status
	Code    string // stable machine code
	Message string // for humans; not stable
	// RetryAfter is the node's Retry-After, zero when it sent none.
	RetryAfter time.Duration
}

func (e *APIError) Error() string {
	code := e.Code
	if code == "" {
		code = strings.ToLower(http.StatusText(e.Status))
	}
	msg := fmt.Sprintf("client: %s (%d)", code, e.Status)
	if e.Message != "" {
		msg += ": " + e.Message
	}
	if e.RetryAfter > 0 {
		msg += fmt.Sprintf(" (retry after %v)", e.RetryAfter)
	}
	return msg
}

// Is matches the dag sentinel that the contract's code stands for.
func (e *APIError) Is(target error) bool {
	c, ok := codes[e.Code]
	return ok && c.err != nil && errors.Is(c.err, target)
}

// codes is the contract's error table: the HTTP status of each code, and
// the dag sentinel it reports, where there is one.
var codes = map[string]struct {
	status int
	err    error
}{
	"malformed":              {http.StatusBadRequest, dag.ErrMalformed},
	"bad_version":            {http.StatusBadRequest, dag.ErrVersion},
	"bad_kind":               {http.StatusBadRequest, dag.ErrKind},
	"trailing_bytes":         {http.StatusBadRequest, dag.ErrTrailingBytes},
	"payload_too_large":      {http.StatusRequestEntityTooLarge, dag.ErrPayloadTooLarge},
	"body_too_large":         {http.StatusRequestEntityTooLarge, nil},
	"unsupported_media_type": {http.StatusUnsupportedMediaType, nil},
	"bad_signature":          {http.StatusUnprocessableEntity, dag.ErrSignature},
	"insufficient_work":      {http.StatusUnprocessableEntity, dag.ErrWork},
	"future_time":            {http.StatusUnprocessableEntity, dag.ErrFuture},
	"broken_chain":           {http.StatusConflict, dag.ErrChain},
	"not_validator":          {http.StatusForbidden, dag.ErrNotValidator},
	"not_authority":          {http.StatusForbidden, nil},
	"rate_limited":           {http.StatusTooManyRequests, nil},
	"overloaded":             {http.StatusTooManyRequests, dag.ErrOverloaded},
	"parked_full":            {http.StatusTooManyRequests, dag.ErrParkedFull},
	"not_found":              {http.StatusNotFound, dag.ErrNotFound},
	"pruned":                 {http.StatusGone, dag.ErrPruned}, // also dag.ErrNotFound
	"method_not_allowed":     {http.StatusMethodNotAllowed, nil},
	"closed":                 {http.StatusServiceUnavailable, dag.ErrClosed},
	"store_failure":          {http.StatusInternalServerError, dag.ErrStore},
	"internal":               {http.StatusInternalServerError, nil},

	// The device layer's codes (device.Codes): verdicts on what the
	// transaction has in its past.
	device.CodeUnregistered:      {http.StatusForbidden, nil},
	device.CodeSuspended:         {http.StatusForbidden, nil},
	device.CodeRevoked:           {http.StatusForbidden, nil},
	device.CodeQuarantined:       {http.StatusForbidden, nil},
	device.CodeNotOwner:          {http.StatusForbidden, nil},
	device.CodeClassNotAllowed:   {http.StatusForbidden, nil},
	device.CodeDeviceExists:      {http.StatusConflict, nil},
	device.CodeInvalidTransition: {http.StatusConflict, nil},
	device.CodeUnknownDevice:     {http.StatusUnprocessableEntity, nil},
	device.CodeKeyNotCommitted:   {http.StatusUnprocessableEntity, nil},
	device.CodeBadQuarantine:     {http.StatusUnprocessableEntity, nil},
	device.CodePolicyDenied:      {http.StatusForbidden, nil},
	device.CodePolicyInvalid:     {http.StatusUnprocessableEntity, nil},
	device.CodePolicyTooCostly:   {http.StatusUnprocessableEntity, nil},
	device.CodePolicyOutdated:    {http.StatusConflict, nil},

	// POST /v1/transactions?work=node for a device whose policies grant
	// no node work, or beyond the allowance: the transaction itself may
	// be valid with work done elsewhere, so it is no verdict.
	CodeNodeWorkRefused: {http.StatusForbidden, nil},
}

// CodeNodeWorkRefused is the node's refusal to solve a transaction's work
// (Client.PostNodeWork).
const CodeNodeWorkRefused = "node_work_refused"

// isDeviceCode reports whether code is one of the device layer's.
func isDeviceCode(code string) bool {
	for _, c := range device.Codes {
		if c == code {
			return true
		}
	}
	return false
}

// verdict reports whether err is the node's judgement that the
// transaction is invalid, which every honest node reaches alike: such a
// transaction can never enter any ledger, so its sequence number is free
// again. The device layer's codes are such verdicts too: the device's
// rules judge a transaction by its own past, which never changes (a
// reading refused as device_suspended stays refused after a resume; the
// next one, which sees the resume, is accepted). Everything else
// (overload, a node's own failure, a clock ahead of the node's) leaves the
// transaction possibly valid somewhere.
func verdict(err error) bool {
	var apiErr *APIError
	if !errors.As(err, &apiErr) {
		return false
	}
	switch apiErr.Code {
	case "malformed", "bad_version", "bad_kind", "trailing_bytes", "payload_too_large",
		"bad_signature", "insufficient_work", "broken_chain", "not_validator", "not_authority":
		return true
	}
	return isDeviceCode(apiErr.Code)
}

// IsRetryable reports whether the same request may succeed later: a
// network failure or timeout, 429 (rate limited, overloaded) or 503
// (closed), and 502 and 504, which a proxy in front of a restarting node
// answers. Resending a transaction is always safe: the node answers a copy
// it already has with duplicate. The caller's own cancellation is not
// retryable.
func IsRetryable(err error) bool {
	if err == nil {
		return false
	}
	var apiErr *APIError
	if errors.As(err, &apiErr) {
		switch apiErr.Status {
		case http.StatusTooManyRequests, http.StatusServiceUnavailable,
			http.StatusBadGateway, http.StatusGatewayTimeout:
			return true
		}
		return false
	}
	switch {
	case errors.Is(err, errRequestTimeout), errors.Is(err, ErrStreamIdle),
		errors.Is(err, ErrStreamClosed), errors.Is(err, ErrLagged):
		return true
	case errors.Is(err, context.Canceled):
		return false
	}
	// The caller's own deadline arrives as a bare context error (see
	// transportError), which also satisfies net.Error; a network failure
	// comes wrapped in one of these.
	var urlErr *url.Error
	var opErr *net.OpError
	return errors.As(err, &urlErr) || errors.As(err, &opErr) || errors.Is(err, io.ErrUnexpectedEOF)
}

// retryAfter returns the node's requested delay, zero for anything else.
func retryAfter(err error) time.Duration {
	var apiErr *APIError
	if errors.As(err, &apiErr) {
		return apiErr.RetryAfter
	}
	return 0
}

// decodeAPIError reads a non-2xx response. now resolves a Retry-After
// given as an HTTP date.
func decodeAPIError(resp *http.Response, now time.Time) *APIError {
	e := &APIError{Status: resp.StatusCode, RetryAfter: parseRetryAfter(resp.Header.Get("Retry-After"), now)}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	var j struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	}
	if json.Unmarshal(body, &j) == nil && j.Code != "" {
		e.Code, e.Message = j.Code, j.Message
		return e
	}
	// Not the contract's form: keep a readable start of the body so a
	// proxy's or a misrouted server's answer can still be diagnosed.
	text := strings.TrimSpace(string(body))
	if len(text) > 200 {
		text = text[:200]
		for !utf8.ValidString(text) {
			text = text[:len(text)-1]
		}
		text += "..."
	}
	e.Message = text
	return e
}

// parseRetryAfter accepts both forms RFC 9110 allows: delay seconds and an
// HTTP date.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if secs, err := strconv.ParseUint(v, 10, 32); err == nil {
		return time.Duration(secs) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

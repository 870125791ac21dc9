package device

import (
	"fmt"

	"github.com/tangled-ledger/tangled/dag"
)

// The device layer's rejection codes, each a dag.Rejection with the
// sender's fault: the transaction itself breaks a rule, judged from its
// past, so every node rejects it alike.
const (
	// Data or a rotation from a key no registration in the transaction's
	// past binds (permissioned networks only).
	CodeUnregistered = "device_unregistered"
	// The device's suspension (revocation) is in the transaction's past.
	CodeSuspended = "device_suspended"
	CodeRevoked   = "device_revoked"
	// A validator's quarantine notice for the device is in its past.
	CodeQuarantined = "device_quarantined"
	// A control transaction names a device whose registration is not in
	// its past.
	CodeUnknownDevice = "unknown_device"
	// A lifecycle action by an authority that does not own the device as
	// of the action's past.
	CodeNotOwner = "not_owner"
	// The authority may not register (or receive) devices of the class.
	CodeClassNotAllowed = "class_not_allowed"
	// A registration of a key that a live registration in its past binds
	// already.
	CodeDeviceExists = "device_exists"
	// Suspend of a device that is not active, resume of one that is not
	// suspended, transfer to its own owner.
	CodeInvalidTransition = "invalid_transition"
	// A rotation to a key other than the one the previous registration or
	// rotation committed to.
	CodeKeyNotCommitted = "key_not_committed"
	// A quarantine notice whose parents are not two transactions of one
	// device with one sequence number.
	CodeBadQuarantine = "bad_quarantine"
	// A device transaction or command that a policy in force in its past
	// denies (the message names the policy), or whose evaluation failed
	// or hit the cost limit.
	CodePolicyDenied = "policy_denied"
	// A policy that does not compile, does not yield a bool, reads what
	// it did not declare or uses a forbidden construct (map iteration, a
	// time zone, a non-literal regular expression).
	CodePolicyInvalid = "policy_invalid"
	// A policy whose estimated cost is unbounded or over the network's
	// policy_cost_limit.
	CodePolicyTooCostly = "policy_too_costly"
	// A policy whose version is not above the one in force at its scope
	// in its past.
	CodePolicyOutdated = "policy_outdated"
	// A firmware release whose sequence number is not above the newest
	// release of its class and component in its past.
	CodeFirmwareRollback = "firmware_rollback"
	// An approval or install report naming a release that is not in its
	// past.
	CodeUnknownRelease = "unknown_release"
	// An approval by an authority the class's genesis rule does not name.
	CodeNotApprover = "not_approver"
	// A second approval of one release by one approver.
	CodeAlreadyApproved = "already_approved"
	// An install report of a release for another class.
	CodeWrongTarget = "wrong_target"
	// An ok install report whose measured digest is not the release's.
	CodeDigestMismatch = "digest_mismatch"
	// An ok install report of a release without its class's approvals in
	// the report's past.
	CodeReleaseNotActive = "release_not_active"
	// An ok install report of a release that requires an earlier one the
	// device has not reported installing.
	CodeReleaseRequires = "release_requires"
	// A transaction of an authority whose key retirement is in its past.
	CodeKeyRetired = "key_retired"
)

// Codes lists every code above (the API's table, the docs).
var Codes = []string{
	CodeUnregistered, CodeSuspended, CodeRevoked, CodeQuarantined,
	CodeUnknownDevice, CodeNotOwner, CodeClassNotAllowed, CodeDeviceExists,
	CodeInvalidTransition, CodeKeyNotCommitted, CodeBadQuarantine,
	CodePolicyDenied, CodePolicyInvalid, CodePolicyTooCostly, CodePolicyOutdated,
	CodeFirmwareRollback, CodeUnknownRelease, CodeNotApprover, CodeAlreadyApproved,
	CodeWrongTarget, CodeDigestMismatch, CodeReleaseNotActive, CodeReleaseRequires,
}

func reject(code, format string, args ...any) error {
	return &dag.Rejection{Code: code, Fault: dag.FaultSender, Message: "device: " + fmt.Sprintf(format, args...)}
}

package netns

import "errors"

// Sentinel errors; the Plumber wraps them with the step and the values
// involved, so test with errors.Is.
var (
	// ErrInvalidRequest: a request field is missing or malformed.
	ErrInvalidRequest = errors.New("invalid request")
	// ErrNetnsNotFound: the namespace path does not exist.
	ErrNetnsNotFound = errors.New("network namespace not found")
	// ErrNotNetns: the path exists but is not a network namespace (e.g. a
	// leftover file under /var/run/netns whose bind mount is gone), or it
	// is not an absolute path.
	ErrNotNetns = errors.New("not a network namespace")
	// ErrHostNetns: the pod namespace is the host namespace itself, so a
	// move would only rename the VF there. It comes with ErrInvalidRequest.
	ErrHostNetns = errors.New("the pod netns is the host netns")
	// ErrInvalidIfName: the interface name breaks the kernel's rules
	// (dev_valid_name). It comes with ErrInvalidRequest.
	ErrInvalidIfName = errors.New("invalid interface name")
	// ErrLinkNotFound: the VF is neither where it was expected nor, for
	// MoveOut, at home under its original name or alias. For a DEL whose
	// pod namespace is gone the caller may treat it as done.
	ErrLinkNotFound = errors.New("link not found")
	// ErrNameTaken: the target namespace already has a link of that name:
	// IfName in the pod on MoveIn, the original name at home on MoveOut.
	ErrNameTaken = errors.New("interface name already in use")
	// ErrLinkDown: Check found the link administratively down.
	ErrLinkDown = errors.New("link is down")
	// ErrAddressMissing: Check did not find a wanted address on the link
	// (or found it with another prefix length).
	ErrAddressMissing = errors.New("address missing")
	// ErrRouteMissing: Check did not find a wanted route on the link.
	ErrRouteMissing = errors.New("route missing")
	// ErrMACMismatch: Check found the link with another MAC.
	ErrMACMismatch = errors.New("MAC mismatch")
	// ErrIPv6Unavailable: MoveIn was asked for an IPv6 address on a link
	// that cannot have one: the kernel runs without IPv6 (ipv6.disable=1),
	// the MTU is below IPv6's minimum of 1280, or the MAC has no EUI-64
	// form to derive the link-local address from.
	ErrIPv6Unavailable = errors.New("IPv6 unavailable")
)

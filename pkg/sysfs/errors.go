package sysfs

import "errors"

// Sentinel errors. LookupVF wraps them with the address and the sysfs path
// involved, so test with errors.Is; the host agent maps all of them to CNI
// error 102 except ErrInvalidAddress, which is a configuration error.
var (
	// ErrInvalidAddress: the string is not a PCI address.
	ErrInvalidAddress = errors.New("invalid PCI address")
	// ErrNoDevice: no such PCI device under <root>/bus/pci/devices.
	ErrNoDevice = errors.New("no such PCI device")
	// ErrNotVF: the device exists but is neither an SR-IOV VF (no physfn)
	// nor a PF, or its PF does not list it among its virtfnN links.
	ErrNotVF = errors.New("not an SR-IOV virtual function")
	// ErrVFIO: the VF is bound to vfio-pci or another userspace driver, so
	// it has no netdev to move into a pod.
	ErrVFIO = errors.New("VF bound to a userspace driver")
	// ErrNoNetdev: the VF has no netdev in this network namespace: it is
	// unbound, or (usually) already moved into a pod.
	ErrNoNetdev = errors.New("VF has no netdev in this network namespace")
	// ErrNoAuxDevice: no such auxiliary device under
	// <root>/bus/auxiliary/devices; errors.Is also matches ErrNoDevice.
	ErrNoAuxDevice error = alias{"no such auxiliary device", ErrNoDevice}
	// ErrNotSF: the auxiliary device is not a Scalable Function (no
	// readable sfnum) or does not sit in a PCI device.
	ErrNotSF = errors.New("not a Scalable Function")
	// ErrNoPFNetdev: the PF has no netdev, so its MAC (which names the
	// representor on the DPU) is unknown.
	ErrNoPFNetdev = errors.New("PF has no netdev")
)

// alias is a sentinel with its own message that also matches another.
type alias struct {
	msg string
	of  error
}

func (a alias) Error() string        { return a.msg }
func (a alias) Is(target error) bool { return target == a.of }

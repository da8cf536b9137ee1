//go:build !linux

package devlink

import "fmt"

// unsupportedKernel stands in where there is no netlink.
type unsupportedKernel struct{}

func newKernel() kernel { return unsupportedKernel{} }

func (unsupportedKernel) devlinkFamily() (devlinkFamily, error) {
	return devlinkFamily{}, fmt.Errorf("%w: netlink exists only on Linux", ErrNetlinkUnavailable)
}

func (unsupportedKernel) subscribeDevlink(devlinkFamily) (notifier, error) {
	return nil, ErrNetlinkUnavailable
}

func (unsupportedKernel) subscribeLinks() (notifier, error) { return nil, ErrNetlinkUnavailable }

func (unsupportedKernel) dumpPorts(devlinkFamily) ([][]byte, error) {
	return nil, ErrNetlinkUnavailable
}

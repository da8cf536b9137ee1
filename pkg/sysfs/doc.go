// Package sysfs resolves an SR-IOV virtual function's PCI address (the
// deviceID a device plugin or Multus hands to the CNI plugin) into what the
// host agent needs to request an OVN port for it: the VF's netdev, the PF's
// PCI address, netdev and MAC, and the VF index. Together, PF MAC and VF
// index name the representor on the DPU (see docs/architecture.md).
//
// Everything is read below an injected sysfs root (the --sysfs-root flag,
// default "/sys"), so tests and the demo sandbox point a [Reader] at a fake
// tree built with package sysfstest.
//
// The kernel tags a device's net/ directory with its network namespace: once
// a VF has been moved into a pod, net/ looks empty from the host and
// [Reader.LookupVF] fails with [ErrNoNetdev]. Callers must therefore record
// the VF's netdev name before moving it, and use that record (not sysfs) to
// find it again. LookupVF still returns the PF fields and VF index with
// ErrNoNetdev, which is enough to rebuild the port's options after a
// restart.
//
// A deviceID may also name a Scalable Function by its auxiliary device name
// (mlx5_core.sf.4, as the SR-IOV network device plugin hands them out):
// LookupVF then reads bus/auxiliary/devices/<dev>/sfnum, takes the PCI
// device the auxiliary device sits in as its PF, and its netdev from
// <dev>/net/. And a PF's own address asks for the PF itself (Kind PF):
// its netdev moves, its MAC names the pcipf representor.
//
// PCI addresses are accepted in the kernel's domain:bus:device.function form
// (0000:03:00.2) and, because lspci prints it that way by default, in the
// short bus:device.function form, which means domain 0000. Hex digits may be
// in either case; results always use the kernel's lower-case spelling.
package sysfs

// Package sysfstest builds fake PCI sysfs trees, laid out like the kernel's,
// for unit tests, integration tests and the demo sandbox, none of which have
// SR-IOV hardware. Point a sysfs.Reader (or --sysfs-root) at [Tree.Root].
//
// The layout mirrors real sysfs, relative symlinks included, so the tree
// stays valid when copied or bind-mounted elsewhere:
//
//	devices/pci0000:00/<pci>/                 device directory
//	devices/pci0000:00/<pci>/net/<if>/        address, mtu
//	devices/pci0000:00/<pf>/sriov_totalvfs    TotalVFs
//	devices/pci0000:00/<vf>/physfn        ->  ../<pf>
//	devices/pci0000:00/<pf>/virtfnN       ->  ../<vf>
//	devices/pci0000:00/<vf>/driver        ->  ../../../bus/pci/drivers/<driver>
//	bus/pci/devices/<pci>                 ->  ../../../devices/pci0000:00/<pci>
//	bus/pci/drivers/<driver>/<pci>        ->  back to the device
//	class/net/<if>                        ->  ../../devices/pci0000:00/<pci>/net/<if>
//	class/net/<uplink>/smart_nic/pf/config    BlueField host PF MAC (DPU side)
//
// The kernel shows a device's net/ entries only in the netdev's own network
// namespace. [Tree.MoveNetdevToPod] and [Tree.MoveNetdevHome] emulate that
// by moving the entry to a stash under <root>/.sysfstest and back, so code
// under test sees what it would see on a real host.
//
// The API returns errors and never panics, and nothing but [NewTestTree]
// takes a testing.TB, because the demo's sandbox binary builds its tree
// with it too.
package sysfstest

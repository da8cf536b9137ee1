package main

// Device information for Multus, as the Network Plumbing Working Group's
// "Device Information Specification" (k8snetworkplumbingwg/device-info-spec,
// version 1.1.0) defines it: section 3 the JSON format, 4.2 the CNI Plugin
// Device Information File, 5.1 the CNIDeviceInfoFile capability that hands
// the plugin the file's path in runtimeConfig. Multus reads the file after
// the chain's ADD into the pod's network-status annotation ("device-info")
// and deletes it on DEL; the plugin deletes it on DEL too, since a runtime
// other than Multus may set the capability.
//
// sriov-cni itself never touches this file: for an SR-IOV VF the device
// plugin writes {"type":"pci","version":"1.1.0","pci":{"pci-address":...}}
// and Multus copies that into the CNI file before calling the plugin. The
// plugin writes the same record, so the annotation is there also without
// the device plugin, and keeps the copy it finds when that names the VF
// it attached (the device plugin may have added fields such as rdma-device).

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	current "github.com/containernetworking/cni/pkg/types/100"

	"github.com/ovn-dpu/ovn-dpu/pkg/sysfs"
)

const (
	// deviceInfoVersion is the spec version the record follows.
	deviceInfoVersion = "1.1.0"
	// deviceInfoMode is the file mode the network-attachment-definition
	// client's saveDeviceInfo (used by Multus and the device plugin) gives
	// the file: nobody is meant to change it in place.
	deviceInfoMode fs.FileMode = 0o444
	// deviceInfoDirMode is for a directory the plugin has to create. The
	// client asks for os.ModeDir alone, i.e. 0000, workable only because
	// its writers run as root; the file is world-readable, so its directory
	// is too.
	deviceInfoDirMode fs.FileMode = 0o755
)

// deviceInfo is the spec's record for a "pci" device; the other types and
// the optional pci keys are left out because the plugin has nothing to put
// in them (the representor lives on the DPU, not on this host).
type deviceInfo struct {
	Type    string     `json:"type"`
	Version string     `json:"version"`
	PCI     *pciDevice `json:"pci,omitempty"`
}

type pciDevice struct {
	Address string `json:"pci-address"`
}

// saveDeviceInfo makes path describe the VF at pciAddress. It writes a new
// file atomically (temp file and rename), so Multus never reads half a
// record and a plugin killed mid-write leaves at worst a stray temp file.
func saveDeviceInfo(path, pciAddress string) error {
	if describes(path, pciAddress) {
		return nil
	}
	data, err := json.Marshal(deviceInfo{Type: "pci", Version: deviceInfoVersion, PCI: &pciDevice{Address: pciAddress}})
	if err != nil {
		return err
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, deviceInfoDirMode); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	// No fsync: the spec's directory is under /var/run, which does not
	// outlive a reboot, and the atomicity wanted is against readers.
	_, err = tmp.Write(data)
	err = errors.Join(err, tmp.Chmod(deviceInfoMode), tmp.Close())
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		_ = os.Remove(tmp.Name())
	}
	return err
}

// describes reports whether path already holds a pci record for
// pciAddress, as the device plugin's copy does; anything else (no file,
// another device, not a record) is replaced.
func describes(path, pciAddress string) bool {
	data, err := os.ReadFile(path)
	if err != nil {
		return false
	}
	var info deviceInfo
	if json.Unmarshal(data, &info) != nil || info.Type != "pci" || info.PCI == nil {
		return false
	}
	addr, err := sysfs.NormalizePCIAddress(info.PCI.Address)
	return err == nil && addr == pciAddress
}

// removeDeviceInfo deletes path; one already gone is fine, since Multus
// deletes it on DEL as well and DEL may come more than once.
func removeDeviceInfo(path string) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

// deviceAddress is the PCI address the device information gives for the
// attachment: the pciID the host agent put in the result for ifname, or,
// in a result too old to carry pciID (cniVersion 0.4.0), the configured
// deviceID normalised as the agent does.
func deviceAddress(res *current.Result, ifname, deviceID string) (string, error) {
	for _, i := range res.Interfaces {
		if i.Name == ifname && i.PciID != "" {
			return sysfs.NormalizePCIAddress(i.PciID)
		}
	}
	addr, err := sysfs.NormalizePCIAddress(deviceID)
	if err != nil {
		return "", fmt.Errorf("the result has no pciID for %s and deviceID is not a PCI address: %w", ifname, err)
	}
	return addr, nil
}

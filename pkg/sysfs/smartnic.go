package sysfs

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
)

// ReadSmartNICPFMAC reads the host PF's MAC as the DPU sees it, from
// <root>/class/net/<uplink>/smart_nic/pf/config (the "MAC        : ..."
// line). Some BlueField firmware reports a zero hw_addr on the pcipf
// devlink port and this file is then the only source, as in ovn-vif.
// A missing file keeps fs.ErrNotExist in the error chain.
func ReadSmartNICPFMAC(root, uplink string) (net.HardwareAddr, error) {
	if uplink == "" || uplink == "." || uplink == ".." || strings.ContainsRune(uplink, '/') {
		return nil, fmt.Errorf("uplink netdev name %q is invalid", uplink)
	}
	if root == "" {
		root = DefaultRoot
	}
	path := filepath.Join(root, "class", "net", uplink, "smart_nic", "pf", "config")
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		key, val, ok := strings.Cut(sc.Text(), ":")
		if !ok || strings.TrimSpace(key) != "MAC" {
			continue
		}
		mac, err := net.ParseMAC(strings.TrimSpace(val))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		return mac, nil
	}
	return nil, fmt.Errorf("%s: no MAC line", path)
}

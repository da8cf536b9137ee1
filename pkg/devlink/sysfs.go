package devlink

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
)

// smartNICMAC reads the host PF MAC that BlueField firmware publishes under
// the uplink when the pcipf port's hw_addr is zero, as ovn-vif does.
func smartNICMAC(sysfsRoot, uplink string) (net.HardwareAddr, error) {
	path, err := netdevPath(sysfsRoot, uplink, "smart_nic", "pf", "config")
	if err != nil {
		return nil, err
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	value, ok := configValue(data, "MAC")
	if !ok {
		return nil, fmt.Errorf("%s has no MAC line", path)
	}
	return parseNonZeroMAC(path, value)
}

// configValue finds "KEY : value" in smart_nic/pf/config.
func configValue(data []byte, key string) (string, bool) {
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok && strings.TrimSpace(k) == key {
			return strings.TrimSpace(v), true
		}
	}
	return "", false
}

// netdevMAC reads a local netdev's MAC: on a host-side switchdev NIC the
// PF is the uplink itself and devlink has no pcipf port to tell its MAC.
func netdevMAC(sysfsRoot, netdev string) (net.HardwareAddr, error) {
	path, err := netdevPath(sysfsRoot, netdev, "address")
	if err != nil {
		return nil, err
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return parseNonZeroMAC(path, strings.TrimSpace(string(data)))
}

// netdevPath refuses names that would leave class/net: a dump file is
// operator input, and a netdev name can never contain '/'.
func netdevPath(sysfsRoot, netdev string, elem ...string) (string, error) {
	if netdev == "" || netdev == "." || netdev == ".." || strings.ContainsRune(netdev, '/') {
		return "", fmt.Errorf("netdev name %q is not valid", netdev)
	}
	return filepath.Join(append([]string{sysfsRoot, "class", "net", netdev}, elem...)...), nil
}

func parseNonZeroMAC(path, s string) (net.HardwareAddr, error) {
	mac, err := net.ParseMAC(s)
	if err != nil {
		return nil, fmt.Errorf("%s: MAC %q: %w", path, s, err)
	}
	if isZeroMAC(mac) {
		return nil, errors.New(path + ": MAC is all zeroes")
	}
	return mac, nil
}

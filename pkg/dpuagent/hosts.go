package dpuagent

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
)

// Hosts maps the hosts a multi-host DPU serves — by the identity their
// client certificates carry — to their devlink controllers (--hosts
// NAME=CONTROLLER,...). The zero value is a DPU serving the one host its
// NIC sits in: no mapping, no claims.
type Hosts struct {
	byName       map[string]uint32
	byController map[uint32]string
}

// ParseHosts reads --hosts: comma-separated NAME=CONTROLLER pairs, each
// name and each controller at most once. "" is the zero Hosts.
func ParseHosts(s string) (Hosts, error) {
	h := Hosts{byName: map[string]uint32{}, byController: map[uint32]string{}}
	if strings.TrimSpace(s) == "" {
		return Hosts{}, nil
	}
	for _, pair := range strings.Split(s, ",") {
		name, num, ok := strings.Cut(strings.TrimSpace(pair), "=")
		if !ok || name == "" {
			return Hosts{}, fmt.Errorf("--hosts %q: want NAME=CONTROLLER, e.g. host-a=1", pair)
		}
		controller, err := strconv.ParseUint(num, 10, 32)
		if err != nil {
			return Hosts{}, fmt.Errorf("--hosts %q: controller %q is not a devlink controller number", pair, num)
		}
		if controller == 0 {
			// devlink's controller 0 is the DPU's own (local) functions;
			// hosts are external controllers, 1 and up.
			return Hosts{}, fmt.Errorf("--hosts %q: controller 0 is the DPU's own functions, not a host's (hosts are 1 and up)", pair)
		}
		if _, dup := h.byName[name]; dup {
			return Hosts{}, fmt.Errorf("--hosts: host %q is named twice", name)
		}
		if other, dup := h.byController[uint32(controller)]; dup {
			return Hosts{}, fmt.Errorf("--hosts: controller %d is mapped to both %q and %q", controller, other, name)
		}
		h.byName[name], h.byController[uint32(controller)] = uint32(controller), name
	}
	return h, nil
}

// Enabled reports whether the DPU serves several hosts: claims are then
// required and every host sees only its own.
func (h Hosts) Enabled() bool { return len(h.byName) > 0 }

// Controller is the devlink controller of host name.
func (h Hosts) Controller(name string) (uint32, bool) {
	c, ok := h.byName[name]
	return c, ok
}

// Host is the host mapped to controller.
func (h Hosts) Host(controller uint32) (string, bool) {
	name, ok := h.byController[controller]
	return name, ok
}

// String is the mapping as --hosts takes it, sorted by controller.
func (h Hosts) String() string {
	pairs := make([]string, 0, len(h.byController))
	for _, c := range slices.Sorted(maps.Keys(h.byController)) {
		pairs = append(pairs, fmt.Sprintf("%s=%d", h.byController[c], c))
	}
	return strings.Join(pairs, ",")
}

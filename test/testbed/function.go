package testbed

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"slices"
	"time"

	"github.com/ovn-dpu/ovn-dpu/pkg/devlink"
)

// functionMACPoll is how often EmulateFunctionMACs looks at the dump.
const functionMACPoll = 20 * time.Millisecond

// EmulateFunctionMACs plays the NIC for a DPU agent run with
// --set-function-mac: a real VF takes the MAC the DPU sets on its devlink
// port function, a veth does not. Until ctx ends, whenever the devlink
// dump shows a function hw_addr for vf's representor port that the VF
// does not have, it gives the VF that MAC once the VF is in pod as ifname
// and up — after the host agent's move, which tells its link from others
// by MAC while moving it. It returns what stopped it: ctx's error, or the
// first failure to read the dump or set the MAC.
func (b *Bed) EmulateFunctionMACs(ctx context.Context, vf *VF, pod, ifname string) error {
	tick := time.NewTicker(functionMACPoll)
	defer tick.Stop()
	for {
		err := b.emulateFunctionMAC(ctx, vf, pod, ifname)
		if ctx.Err() != nil {
			return ctx.Err() // err may only say that ctx killed a command
		}
		if err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
}

func (b *Bed) emulateFunctionMAC(ctx context.Context, vf *VF, pod, ifname string) error {
	want, err := b.FunctionHWAddr(vf)
	if err != nil || want == nil {
		return err
	}
	out, err := b.InNetns(ctx, pod, "ip", "-j", "link", "show", "dev", ifname)
	if err != nil {
		return nil // not in the pod (yet)
	}
	var links []struct {
		Address string   `json:"address"`
		Flags   []string `json:"flags"`
	}
	if err := json.Unmarshal([]byte(out), &links); err != nil || len(links) != 1 {
		return fmt.Errorf("ip -j link show %s in %s: %q (%v)", ifname, pod, out, err)
	}
	if links[0].Address == want.String() || !slices.Contains(links[0].Flags, "UP") {
		return nil
	}
	_, err = b.InNetns(ctx, pod, "ip", "link", "set", "dev", ifname, "address", want.String())
	return err
}

// FunctionHWAddr is the function hw_addr the devlink dump shows for vf's
// representor port; nil when it shows none.
func (b *Bed) FunctionHWAddr(vf *VF) (net.HardwareAddr, error) {
	data, err := os.ReadFile(vf.dpu.devlinkPath)
	if err != nil {
		return nil, err
	}
	ports, err := devlink.ParseDump(bytes.NewReader(data))
	if err != nil {
		return nil, err
	}
	handle := representorPort(vf).Handle()
	for _, p := range ports {
		if p.Handle() == handle {
			return p.HWAddr, nil
		}
	}
	return nil, errors.New("the devlink dump has no port " + handle)
}

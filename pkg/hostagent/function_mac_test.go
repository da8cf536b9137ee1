package hostagent

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/ovn-dpu/ovn-dpu/pkg/hoststate"
	"github.com/ovn-dpu/ovn-dpu/pkg/netns"
)

// When the DPU sets VF MACs (Info sets_function_mac), ADD moves the VF in
// without setting its MAC, reports the logical port's MAC, waits for the
// VF to show it, and DEL leaves the MAC as the DPU set it.
func TestAddLeavesTheMACToTheDPU(t *testing.T) {
	h := newHarness(t)
	h.dpu.setsMAC = true
	result, e := h.add("c1", netConf(""))
	if e != nil {
		t.Fatalf("ADD: %v", e)
	}
	movedIn := "vf.movein ens1f0v3 -> eth0 mac  mtu 1400 ips 1" // no MAC asked for
	h.wantJournal([]string{ipamAdd, createdLSP, addressed, movedIn}, []string{"dpu.ready " + testLSP})
	if c := h.plumber.lastCheck(); c == nil || c.MAC.String() != "0e:00:00:00:00:05" || c.IfName != "eth0" || c.PodNetns != testNetns {
		t.Errorf("the VF's MAC was not checked after READY: %+v", c)
	}
	var res struct{ Interfaces []struct{ Name, Mac string } }
	if err := json.Unmarshal(result, &res); err != nil || len(res.Interfaces) != 1 || res.Interfaces[0].Mac != "0e:00:00:00:00:05" {
		t.Errorf("result %s (%v): want the logical port's MAC", result, err)
	}
	st, err := h.state.Load(hoststate.Key{ContainerID: "c1", IfName: "eth0"})
	if err != nil || st.VF.MAC != "" {
		t.Fatalf("state VF %+v (%v): want no MAC to restore", st.VF, err)
	}
	h.j.reset()
	if _, e := h.call(request("DEL", "c1", netConf(""))); e != nil {
		t.Fatalf("DEL: %v", e)
	}
	if got := h.j.list(); !slices.Contains(got, "vf.moveout ens1f0v3 mac  mtu 1500") {
		t.Errorf("DEL %q: want the VF moved out without restoring a MAC", got)
	}
	h.wantNothingLeft()
}

// A VF that never shows the MAC the DPU set fails the ADD, naming it.
func TestAddFailsWhenTheVFNeverShowsTheDPUsMAC(t *testing.T) {
	h := newHarness(t)
	h.dpu.setsMAC = true
	h.plumber.checkErr = fmt.Errorf("%w: eth0 in pod has MAC 0e:00:00:00:00:99, its result says 0e:00:00:00:00:05", netns.ErrMACMismatch)
	_, e := h.add("c1", netConf(`,"timeoutSeconds":1`))
	wantCode(t, e, codeNotReady, "does not show the logical port's MAC 0e:00:00:00:00:05")
	if !strings.Contains(e.Msg, "--set-function-mac") {
		t.Errorf("msg %q does not say why the host did not set it", e.Msg)
	}
	h.wantNothingLeft()
}

// Without it, the host sets the MAC as always (TestAddWritesTheRequestAndMovesTheVF)
// and does not wait for it.
func TestAddSetsTheMACWhenTheDPUDoesNot(t *testing.T) {
	h := newHarness(t)
	if _, e := h.add("c1", netConf("")); e != nil {
		t.Fatalf("ADD: %v", e)
	}
	if c := h.plumber.lastCheck(); c != nil {
		t.Errorf("checked %+v: no wait for a MAC the host set itself", c)
	}
}

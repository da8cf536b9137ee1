package statuscmd

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	ovndpuv1 "github.com/ovn-dpu/ovn-dpu/proto/ovndpu/v1"
)

var now = time.Date(2026, 1, 2, 12, 0, 0, 0, time.UTC)

func ago(d time.Duration) *timestamppb.Timestamp { return timestamppb.New(now.Add(-d)) }

// rows are a READY pod, a PENDING one whose pod the DPU does not know, and
// an ERROR port a CMS wrote without any owner.
func rows() []*ovndpuv1.PortRow {
	return []*ovndpuv1.PortRow{
		{Status: &ovndpuv1.PortStatus{LogicalPort: "node1_c1_eth0", AttachmentId: "aaaa1111", OwnerNode: "node1", Generation: 7,
			Phase: ovndpuv1.Phase_PHASE_READY, Representor: "pf0vf0", Ofport: 3, PfMac: "0c:42:a1:00:00:01", VfNum: 0,
			FirstSeen: ago(75 * time.Second), Updated: ago(70 * time.Second)},
			PodNamespace: "prod", PodName: "web-0", DeviceId: "0000:03:00.2"},
		{Status: &ovndpuv1.PortStatus{LogicalPort: "node1_c2_eth0", AttachmentId: "bbbb2222", OwnerNode: "node1", Generation: 9,
			Phase: ovndpuv1.Phase_PHASE_PENDING, Reason: "waiting for the representor: no representor", PfMac: "0c:42:a1:00:00:01",
			VfNum: 1, FirstSeen: ago(3 * time.Hour), Updated: ago(time.Hour)}, DeviceId: "0000:03:00.3"},
		{Status: &ovndpuv1.PortStatus{LogicalPort: "neutron-1", Generation: 2, Phase: ovndpuv1.Phase_PHASE_ERROR,
			Reason: "option vif-plug:representor:vf-num is missing", FirstSeen: ago(50 * time.Hour)}},
	}
}

func TestWritePortsTable(t *testing.T) {
	var ports []Port
	for _, r := range rows() {
		ports = append(ports, PortOf(r))
	}
	var b bytes.Buffer
	if err := WritePortsTable(&b, ports, now); err != nil {
		t.Fatal(err)
	}
	want := `LOGICAL PORT   ATTACHMENT  POD           VF            REPRESENTOR  PHASE    AGE    REASON
node1_c1_eth0  aaaa1111    prod/web-0    0000:03:00.2  pf0vf0       READY    1m15s
node1_c2_eth0  bbbb2222    (node node1)  0000:03:00.3  -            PENDING  3h0m   waiting for the representor: no representor
neutron-1      -           -             -             -            ERROR    2d2h   option vif-plug:representor:vf-num is missing
`
	if got := b.String(); got != want {
		t.Errorf("table:\n%s\nwant:\n%s", got, want)
	}
}

func TestPortsJSON(t *testing.T) {
	doc := Ports{Ports: []Port{PortOf(rows()[0]), PortOf(rows()[2])}}
	var b bytes.Buffer
	if err := writeJSON(&b, doc); err != nil {
		t.Fatal(err)
	}
	want := `{"ports":[{"logicalPort":"node1_c1_eth0","attachment":"aaaa1111","owner":"node1","podNamespace":"prod","podName":"web-0",` +
		`"deviceID":"0000:03:00.2","representor":"pf0vf0","pfMAC":"0c:42:a1:00:00:01","vfNum":0,"ofport":3,"phase":"READY",` +
		`"generation":7,"firstSeen":"2026-01-02T11:58:45Z","updated":"2026-01-02T11:58:50Z"},` +
		`{"logicalPort":"neutron-1","vfNum":0,"phase":"ERROR","reason":"option vif-plug:representor:vf-num is missing",` +
		`"generation":2,"firstSeen":"2026-01-02T10:00:00Z"}]}` + "\n"
	want = strings.Replace(want, `"2026-01-02T10:00:00Z"`, `"2025-12-31T10:00:00Z"`, 1)
	if got := b.String(); got != want {
		t.Errorf("json:\n%s\nwant:\n%s", got, want)
	}
	var back Ports
	if err := json.Unmarshal(b.Bytes(), &back); err != nil || len(back.Ports) != 2 || back.Ports[0].PodName != "web-0" {
		t.Errorf("decoding it back: %v, %+v", err, back)
	}
}

func TestWriteAttachmentsTable(t *testing.T) {
	resp := &ovndpuv1.AttachmentsResponse{DpuSynced: true, Attachments: []*ovndpuv1.AttachmentRow{
		{LogicalPort: "node1_c1_eth0", AttachmentId: "aaaa1111", ContainerId: "c1", Ifname: "eth0", Network: "net",
			PodNamespace: "prod", PodName: "web-0", DeviceId: "0000:03:00.2", VfNetdev: "ens1f0v0", Phase: "READY",
			Representor: "pf0vf0", Created: ago(10 * time.Second)},
		{LogicalPort: "node1_0123456789abcdef_eth0", AttachmentId: "bbbb2222", ContainerId: "0123456789abcdef", Ifname: "eth0",
			Network: "net", DeviceId: "0000:03:00.3", Phase: "UNPLUGGING", Reason: "the LSP is deleted", Created: ago(2 * time.Minute)},
	}}
	var b bytes.Buffer
	if err := WriteAttachmentsTable(&b, AttachmentsOf(resp), now); err != nil {
		t.Fatal(err)
	}
	want := `LOGICAL PORT                 ATTACHMENT  POD                       VF                       REPRESENTOR  PHASE       AGE   REASON
node1_c1_eth0                aaaa1111    prod/web-0                0000:03:00.2 (ens1f0v0)  pf0vf0       READY       10s
node1_0123456789abcdef_eth0  bbbb2222    (container 0123456789ab)  0000:03:00.3             -            UNPLUGGING  2m0s  the LSP is deleted
`
	if got := b.String(); got != want {
		t.Errorf("table:\n%s\nwant:\n%s", got, want)
	}

	// A host with two DPUs: a DPU column.
	b.Reset()
	resp.Dpus = []string{"dpu-a", "dpu-b"}
	resp.Attachments[0].Dpu, resp.Attachments[1].Dpu = "dpu-b", "dpu-a"
	if err := WriteAttachmentsTable(&b, AttachmentsOf(resp), now); err != nil {
		t.Fatal(err)
	}
	want = `LOGICAL PORT                 ATTACHMENT  POD                       VF                       DPU    REPRESENTOR  PHASE       AGE   REASON
node1_c1_eth0                aaaa1111    prod/web-0                0000:03:00.2 (ens1f0v0)  dpu-b  pf0vf0       READY       10s
node1_0123456789abcdef_eth0  bbbb2222    (container 0123456789ab)  0000:03:00.3             dpu-a  -            UNPLUGGING  2m0s  the LSP is deleted
`
	if got := b.String(); got != want {
		t.Errorf("table, two DPUs:\n%s\nwant:\n%s", got, want)
	}

	b.Reset()
	resp = &ovndpuv1.AttachmentsResponse{DpuError: "DPU agent 192.0.2.1:50151 not reachable yet"}
	if err := WriteAttachmentsTable(&b, AttachmentsOf(resp), now); err != nil {
		t.Fatal(err)
	}
	want = "DPU agent stream not in sync: DPU agent 192.0.2.1:50151 not reachable yet\n" +
		"LOGICAL PORT  ATTACHMENT  POD  VF  REPRESENTOR  PHASE  AGE  REASON\n"
	if got := b.String(); got != want {
		t.Errorf("table, DPU down:\n%s\nwant:\n%s", got, want)
	}
	b.Reset()
	if err := writeJSON(&b, AttachmentsOf(resp)); err != nil {
		t.Fatal(err)
	}
	if got, want := b.String(), `{"attachments":[],"dpuSynced":false,"dpuError":"DPU agent 192.0.2.1:50151 not reachable yet"}`+"\n"; got != want {
		t.Errorf("json, DPU down: %s, want %s", got, want)
	}
}

func TestWriteWhy(t *testing.T) {
	resp := &ovndpuv1.WhyResponse{LogicalPort: "node1_c2_eth0", Chassis: "dpu1",
		Binding: &ovndpuv1.WhyBinding{Options: map[string]string{"requested-chassis": "dpu1", "vif-plug-type": "representor",
			"vif-plug:representor:pf-mac": "0c:42:a1:00:00:01", "vif-plug:representor:vf-num": "1"},
			ExternalIds: map[string]string{"ovn-dpu:owner": "node1"}, RequestedChassis: "dpu1", RepresentorRequest: true},
		Representor: &ovndpuv1.WhyRepresentor{PfMac: "0c:42:a1:00:00:01", VfNum: 1, Error: "no representor for pf-mac 0c:42:a1:00:00:01 vf-num 1"},
		Status: &ovndpuv1.PortStatus{LogicalPort: "node1_c2_eth0", Generation: 4, Phase: ovndpuv1.Phase_PHASE_PENDING,
			Reason: "waiting for the representor: no representor"},
		WaitingFor: "PENDING: waiting for the representor: no representor"}
	var b bytes.Buffer
	if err := WriteWhy(&b, WhyOf(resp)); err != nil {
		t.Fatal(err)
	}
	want := `logical port node1_c2_eth0 on chassis dpu1

SB asks (Port_Binding):
  requested_chassis: dpu1
  claimed: no (ovn-controller has not claimed it)
  options:
    requested-chassis=dpu1
    vif-plug-type=representor
    vif-plug:representor:pf-mac=0c:42:a1:00:00:01
    vif-plug:representor:vf-num=1
  external_ids:
    ovn-dpu:owner=node1

representor table (devlink):
  pf-mac 0c:42:a1:00:00:01 vf 1: no representor for pf-mac 0c:42:a1:00:00:01 vf-num 1

OVS (Interface):
  no interface for this port or its representor

status:
  PENDING (generation 4): waiting for the representor: no representor

waiting for: PENDING: waiting for the representor: no representor
`
	if got := b.String(); got != want {
		t.Errorf("why:\n%s\nwant:\n%s", got, want)
	}
}

func TestAge(t *testing.T) {
	for d, want := range map[time.Duration]string{0: "0s", -time.Second: "0s", 59 * time.Second: "59s", 61 * time.Second: "1m1s",
		3*time.Hour + 5*time.Minute: "3h5m", 47 * time.Hour: "47h0m", 72 * time.Hour: "3d0h"} {
		at := now.Add(-d)
		if got := age(&at, now); got != want {
			t.Errorf("age(%v) = %s, want %s", d, got, want)
		}
	}
}

func TestUsage(t *testing.T) {
	var out, errOut bytes.Buffer
	for _, args := range [][]string{{"-o", "yaml"}, {"extra"}, {"--why", "x", "--watch"}} {
		errOut.Reset()
		if code := RunPorts(args, &out, &errOut); code != exitUsage {
			t.Errorf("ports %v: exit %d, want %d (%s)", args, code, exitUsage, errOut.String())
		}
	}
	errOut.Reset()
	if code := RunAttachments([]string{"--socket=" + t.TempDir() + "/x.sock"}, &out, &errOut); code != exitFailed ||
		!strings.Contains(errOut.String(), "cannot reach ovn-dpu-host-agent on ") || !strings.Contains(errOut.String(), "(is it running?)") {
		t.Errorf("attachments, no daemon: exit %d, %q", code, errOut.String())
	}
}

// A row without a host device names the function the LSP asks for, as
// the agent labels it (a VF number alone from an older agent).
func TestPortsTableNamesTheFunction(t *testing.T) {
	now := time.Now()
	for _, tc := range []struct {
		function string
		vfNum    int32
		want     string
	}{
		{"sf 7", 0, "0c:42:a1:00:00:01/sf 7"},
		{"pf", 0, "0c:42:a1:00:00:01/pf"},
		{"vf 2", 2, "0c:42:a1:00:00:01/vf 2"},
		{"", 3, "0c:42:a1:00:00:01/vf 3"},
	} {
		var b strings.Builder
		p := Port{LogicalPort: "cms-port", PFMAC: "0c:42:a1:00:00:01", VFNum: tc.vfNum, Function: tc.function, Phase: "PENDING"}
		if err := WritePortsTable(&b, []Port{p}, now); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(b.String(), tc.want) {
			t.Errorf("function %q: table\n%s\nlacks %q", tc.function, b.String(), tc.want)
		}
	}
}

package devlink

import (
	"bytes"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func mustMAC(t testing.TB, s string) net.HardwareAddr {
	t.Helper()
	mac, err := net.ParseMAC(s)
	if err != nil {
		t.Fatal(err)
	}
	return mac
}

func loadFixture(t testing.TB, name string) []Port {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ports, err := ParseDump(f)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return ports
}

func TestParseDumpFixtures(t *testing.T) {
	tests := []struct {
		file  string
		count int
		// want is checked against the port with the same handle.
		want Port
	}{
		{"bluefield.json", 12, Port{Device: "pci/0000:03:00.0", Index: 196608, Type: "eth", Netdev: "pf0hpf",
			Flavour: PCIPF, Controller: 1, External: true, HWAddr: mustMAC(t, "b8:3f:d2:e1:8f:dc")}},
		{"bluefield.json", 12, Port{Device: "pci/0000:03:00.1", Index: 327679, Type: "eth", Netdev: "p1",
			Flavour: Physical, PortNumber: 1}},
		{"vf-before-pf.json", 12, Port{Device: "pci/0000:03:00.1", Index: 262147, Type: "eth", Netdev: "pf1vf2",
			Flavour: PCIVF, Controller: 1, PFNum: 1, VFNum: 2, External: true, HWAddr: make(net.HardwareAddr, 6)}},
		{"nova-dpu.json", 12, Port{Device: "pci/0000:03:00.1", Index: 262144, Type: "eth", Netdev: "pf1hpf",
			Flavour: PCIPF, PFNum: 1}},
		{"controller-vf.json", 1, Port{Device: "pci/0000:06:00.0", Index: 2, Type: "eth", Netdev: "ens2f0c1pf0vf1",
			Flavour: PCIVF, Controller: 1, VFNum: 1, External: true, HWAddr: make(net.HardwareAddr, 6)}},
		{"controller-zero-hwaddr.json", 4, Port{Device: "pci/0033:01:00.0", Index: 196607, Type: "eth",
			Netdev: "enP51p1s0f0np0", Flavour: Physical}},
		{"host-connectx.json", 2, Port{Device: "pci/0000:07:00.0", Index: 1, Type: "eth", Netdev: "enp7s0f0_0",
			Flavour: PCIVF}},
		{"hypervisor.json", 3, Port{Device: "pci/0000:05:02.3", Index: 1, Type: "eth", Netdev: "enp5s0f1np0v0",
			Flavour: Virtual}},
	}
	for _, tt := range tests {
		t.Run(tt.file+"/"+tt.want.Handle(), func(t *testing.T) {
			ports := loadFixture(t, tt.file)
			if len(ports) != tt.count {
				t.Fatalf("got %d ports, want %d", len(ports), tt.count)
			}
			for _, p := range ports {
				if p.Handle() == tt.want.Handle() {
					if !reflect.DeepEqual(p, tt.want) {
						t.Fatalf("got  %+v\nwant %+v", p, tt.want)
					}
					return
				}
			}
			t.Fatalf("no port %s", tt.want.Handle())
		})
	}
}

func TestParseDumpKeepsListingOrder(t *testing.T) {
	ports := loadFixture(t, "vf-before-pf.json")
	if got := ports[0].Handle(); got != "pci/0000:03:00.1/262148" {
		t.Fatalf("first port %s, want the first one listed", got)
	}
}

func TestParseDumpErrors(t *testing.T) {
	tests := []struct {
		name, in string
		// want are substrings the error must contain, so an operator can
		// find the culprit.
		want []string
	}{
		{"empty", "", []string{"empty"}},
		{"not json", "pci/0000:03:00.0/1: type eth", []string{"not a valid JSON object"}},
		{"other command", `{"dev":{}}`, []string{`no "port" object`}},
		{"port not object", `{"port":[]}`, []string{`"port" is not an object`}},
		{"key without index", `{"port":{"pci/0000:03:00.0":{}}}`, []string{`"pci/0000:03:00.0"`, "bus/device/index"}},
		{"key with bad index", `{"port":{"pci/0000:03:00.0/x":{}}}`, []string{`"pci/0000:03:00.0/x"`, `index "x"`}},
		// Caught by FuzzParseDump's unique-handle check: the same port under
		// two spellings, of which the table silently kept one.
		{"index with leading zero", `{"port":{"pci/0000:03:00.0/1":{},"pci/0000:03:00.0/01":{}}}`,
			[]string{`"pci/0000:03:00.0/01"`, `index "01"`}},
		{"bad hw_addr", `{"port":{"pci/0000:03:00.0/1":{"function":{"hw_addr":"zz:00"}}}}`,
			[]string{`"pci/0000:03:00.0/1"`, "function.hw_addr", `"zz:00"`}},
		{"negative pfnum", `{"port":{"pci/0000:03:00.0/1":{"pfnum":-1}}}`, []string{`"pci/0000:03:00.0/1"`, "pfnum"}},
		{"string vfnum", `{"port":{"pci/0000:03:00.0/1":{"vfnum":"3"}}}`, []string{`"pci/0000:03:00.0/1"`, "vfnum"}},
		{"duplicate", `{"port":{"pci/0000:03:00.0/1":{},"pci/0000:03:00.0/1":{}}}`, []string{`"pci/0000:03:00.0/1"`, "twice"}},
		{"truncated", `{"port":{"pci/0000:03:00.0/1":{"type":"eth"`, []string{"not a valid JSON object"}},
		{"two dumps", `{"port":{}}{"port":{}}`, []string{"data after"}},
		{"null", `null`, []string{`no "port" object`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseDump(strings.NewReader(tt.in))
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestRoundTripFixtures(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatal("no fixtures", err)
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			ports := loadFixture(t, filepath.Base(file))
			assertRoundTrip(t, ports)
		})
	}
}

func TestRoundTripEveryField(t *testing.T) {
	ports := []Port{
		{Device: "pci/0000:03:00.0", Index: 7, Type: "eth", Netdev: "pf0sf3", Flavour: PCISF,
			Controller: 2, PFNum: 1, SFNum: 3, External: true, HWAddr: mustMAC(t, "00:53:00:00:00:01")},
		// Values devlink would not print for the flavour still survive.
		{Device: "pci/0000:03:00.0", Index: 8, Flavour: Physical, PortNumber: 1, Controller: 3, PFNum: 2, VFNum: 4},
		{Device: "pci/0000:03:00.0", Index: 9, Flavour: PCIVF, PortNumber: 5, VFNum: 0},
		{Device: "auxiliary/mlx5_core.sf.2", Index: 0, Flavour: "future"},
	}
	assertRoundTrip(t, ports)
}

func assertRoundTrip(t *testing.T, ports []Port) {
	t.Helper()
	data, err := EncodeDump(ports)
	if err != nil {
		t.Fatal(err)
	}
	again, err := ParseDump(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("parsing our own output: %v\n%s", err, data)
	}
	if !reflect.DeepEqual(ports, again) {
		t.Fatalf("round trip changed ports:\nbefore %+v\nafter  %+v\njson %s", ports, again, data)
	}
}

func TestEncodeDumpFormat(t *testing.T) {
	ports := []Port{
		{Device: "pci/0000:03:00.0", Index: 262143, Type: "eth", Netdev: "p0", Flavour: Physical},
		{Device: "pci/0000:03:00.0", Index: 196609, Type: "eth", Netdev: "pf0vf0", Flavour: PCIVF,
			Controller: 1, External: true, HWAddr: make(net.HardwareAddr, 6)},
	}
	data, err := EncodeDump(ports)
	if err != nil {
		t.Fatal(err)
	}
	// Field names and order as devlink prints them.
	want := `{"port":{"pci/0000:03:00.0/262143":{"type":"eth","netdev":"p0","flavour":"physical","port":0},` +
		`"pci/0000:03:00.0/196609":{"type":"eth","netdev":"pf0vf0","flavour":"pcivf","controller":1,"pfnum":0,"vfnum":0,` +
		`"external":true,"function":{"hw_addr":"00:00:00:00:00:00"}}}}` + "\n"
	if string(data) != want {
		t.Fatalf("got  %s\nwant %s", data, want)
	}
}

func TestEncodeDumpErrors(t *testing.T) {
	tests := []struct {
		name  string
		ports []Port
		want  string
	}{
		{"no device", []Port{{Index: 1}}, "bus/device/index"},
		{"bus only", []Port{{Device: "pci", Index: 1}}, "bus/device/index"},
		{"duplicate", []Port{{Device: "pci/0000:03:00.0", Index: 1}, {Device: "pci/0000:03:00.0", Index: 1}}, "twice"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := EncodeDump(tt.ports)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want one containing %q", err, tt.want)
			}
		})
	}
}

// TestPortScalarsCoversPort keeps Port.equal honest when Port grows a field.
func TestPortScalarsCoversPort(t *testing.T) {
	if got, want := reflect.TypeFor[portScalars]().NumField(), reflect.TypeFor[Port]().NumField()-1; got != want {
		t.Fatalf("portScalars has %d fields, Port has %d besides HWAddr: update Port.scalars", got, want)
	}
}

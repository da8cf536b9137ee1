package devlink

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// The fuzz targets check what the table relies on, not only that nothing
// panics: an accepted port has a handle that names it alone and splits
// back into its device and index, survives a round trip through the
// encoder the fixtures and test beds use, and a table fed with it answers
// only with representors the input has — the same whatever the order the
// ports arrive in.

// hostileDumps add to the fixtures what an operator's dump file could
// hold: limits of every number, odd handles, MAC lengths ParseMAC takes,
// wrong types.
var hostileDumps = []string{
	`{"port":{}}`,
	`{"port":{"pci/0000:03:00.0/4294967295":{"flavour":"pcivf","controller":4294967295,"pfnum":65535,"vfnum":65535,"netdev":"x"}}}`,
	`{"port":{"pci/0000:03:00.0/4294967296":{}}}`,
	`{"port":{"pci/d/1":{"flavour":"pcivf","netdev":"a"},"pci/d/01":{"flavour":"pcivf","netdev":"b"}}}`,
	`{"port":{"pci/0000:03:00.0/1":{"pfnum":65536}}}`,
	`{"port":{"/x/1":{"flavour":"pcipf","function":{"hw_addr":"00:11:22:33:44:55:66:77"}}}}`,
	`{"port":{"a/b/c/7":{"flavour":"pcipf","function":{"hw_addr":""}},"a/b/c/8":{"flavour":"pcivf","netdev":"v"}}}`,
	`{"port":{"pci/d/1":{"flavour":"pcipf","function":{"hw_addr":"00:00:00:00:fe:80:00:00:00:00:00:00:02:00:5e:10:00:00:00:01"}},` +
		`"pci/d/2":{"flavour":"pcivf","vfnum":3,"netdev":"r1"},"pci/d/3":{"flavour":"pcivf","vfnum":3,"netdev":"r2"}}}`,
	`{"port":{"pci/d/1":{"flavour":"pcipf","function":{"hw_addr":"02:00:00:00:00:01"}},` +
		`"pci/e/1":{"flavour":"pcipf","function":{"hw_addr":"02:00:00:00:00:01"}},"pci/e/2":{"flavour":"pcivf","netdev":"r"}}}`,
	`{"port":{"pci/d/1":{"flavour":"physical","netdev":"../../x","port":0},"pci/d/2":{"flavour":"pcivf","netdev":"r"}}}`,
	`{"port":{"pci/d/1":{"external":"yes"}}}`,
	`{"port":{"pci/d/1":{"function":{"hw_addr":7}}}}`,
	`{"port":{"pci/d/1":null}}`,
	`{"port":{"pci/d/1":{"flavour":"future","type":"\u0000"}}}`,
}

func FuzzParseDump(f *testing.F) {
	files, err := filepath.Glob(filepath.Join("testdata", "*.json"))
	if err != nil || len(files) == 0 {
		f.Fatal("no fixtures", err)
	}
	var uplinks []string
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
		for _, p := range loadFixture(f, filepath.Base(file)) {
			if p.Flavour == Physical && p.Netdev != "" {
				uplinks = append(uplinks, p.Netdev)
			}
		}
	}
	for _, s := range hostileDumps {
		f.Add([]byte(s))
	}
	sysfs := fuzzSysfs(f, uplinks)
	f.Fuzz(func(t *testing.T, data []byte) {
		ports, err := ParseDump(bytes.NewReader(data))
		if err != nil {
			// FileSource logs it as is: it must say what it is about.
			if !strings.HasPrefix(err.Error(), "devlink dump") {
				t.Fatalf("error %q does not say it is about the devlink dump", err)
			}
			return
		}
		handles := make(map[string]bool, len(ports))
		for _, p := range ports {
			device, index, err := splitHandle(p.Handle())
			switch {
			case err != nil || device != p.Device || index != p.Index:
				t.Fatalf("port %+v: handle %q does not split back: %q %d %v", p, p.Handle(), device, index, err)
			case handles[p.Handle()]:
				t.Fatalf("two ports with handle %s: the table would keep one", p.Handle())
			case p.HWAddr != nil && (len(p.HWAddr) == 0 || len(p.HWAddr) > maxAddrLen):
				t.Fatalf("port %s: %d-byte hw_addr", p.Handle(), len(p.HWAddr))
			}
			handles[p.Handle()] = true
		}
		enc, err := EncodeDump(ports)
		if err != nil {
			t.Fatalf("EncodeDump of what ParseDump accepted: %v", err)
		}
		if again, err := ParseDump(bytes.NewReader(enc)); err != nil || !reflect.DeepEqual(again, ports) {
			t.Fatalf("round trip through EncodeDump %s: %+v, %v; want %+v", enc, again, err, ports)
		}
		checkTable(t, sysfs, ports)
	})
}

// fuzzSysfs is a sysfs tree where every uplink of the fixtures has a
// smart_nic config and an address, so that fuzzed dumps reach the sysfs
// reads as well as their failures.
func fuzzSysfs(f *testing.F, uplinks []string) string {
	files := make(map[string]string)
	for i, name := range uplinks {
		mac := fmt.Sprintf("00:53:00:00:%02x:%02x", i>>8&0xff, i&0xff)
		files["class/net/"+name+"/smart_nic/pf/config"] = smartNICConfig(mac)
		files["class/net/"+name+"/address"] = mac + "\n"
	}
	return writeSysfs(f, files)
}

var discardLogger = slog.New(slog.DiscardHandler)

// checkTable feeds ports to a table whole and to another one by one,
// last first, and checks that both answer every lookup alike and only
// with representors of ports: "first one wins" goes by handle, not by
// arrival.
func checkTable(t *testing.T, sysfs string, ports []Port) {
	t.Helper()
	whole := NewTable(WithSysfsRoot(sysfs), WithLogger(discardLogger))
	whole.Replace(ports)
	if whole.Len() != len(ports) {
		t.Fatalf("table holds %d ports of %d", whole.Len(), len(ports))
	}
	answers := lookups(t, whole, ports)
	checkComplete(t, whole, ports)

	oneByOne := NewTable(WithSysfsRoot(sysfs), WithLogger(discardLogger))
	for _, p := range slices.Backward(ports) {
		oneByOne.Upsert(p)
	}
	if got := lookups(t, oneByOne, ports); !slices.Equal(oneByOne.KnownPFs(), whole.KnownPFs()) || !slices.Equal(got, answers) {
		t.Fatalf("upserted last first, the table answers\n%s\nreplaced whole\n%s", strings.Join(got, "\n"), strings.Join(answers, "\n"))
	}
	for _, p := range ports {
		oneByOne.Delete(p.Handle())
	}
	if oneByOne.Len() != 0 || len(oneByOne.KnownPFs()) != 0 {
		t.Fatalf("after deleting every port: %d ports, PFs %v", oneByOne.Len(), oneByOne.KnownPFs())
	}
}

// lookups asks tbl for every VF number of ports (and two out of range)
// under every PF it knows, checks each answer and returns them printed.
func lookups(t *testing.T, tbl *Table, ports []Port) []string {
	t.Helper()
	if _, err := tbl.Lookup(nil, 0); !errors.Is(err, ErrNoPF) {
		t.Fatalf("lookup without a PF MAC: %v, want ErrNoPF", err)
	}
	vfnums := []int{-1, 1 << 16}
	for _, p := range ports {
		if p.Flavour == PCIVF {
			vfnums = append(vfnums, int(p.VFNum))
		}
	}
	var out []string
	for _, s := range tbl.KnownPFs() {
		mac, err := net.ParseMAC(s)
		if err != nil || isZeroMAC(mac) {
			t.Fatalf("known PF %q is no usable MAC: %v", s, err)
		}
		for _, vf := range vfnums {
			rep, err := tbl.Lookup(mac, vf)
			checkAnswer(t, ports, mac, vf, rep, err)
			out = append(out, fmt.Sprintf("%s vf %d: %+v %v", mac, vf, rep, err))
		}
	}
	return out
}

// checkAnswer: an answer is an error of the documented kinds, or (also
// with ErrAmbiguous) the representor of a VF port of the input.
func checkAnswer(t *testing.T, ports []Port, mac net.HardwareAddr, vf int, rep Representor, err error) {
	t.Helper()
	var le *LookupError
	switch {
	case err != nil && !errors.As(err, &le):
		t.Fatalf("lookup %s vf %d: %T %v, want a *LookupError", mac, vf, err, err)
	case errors.Is(err, ErrNoPF):
		t.Fatalf("lookup %s vf %d: %v, for a PF the table lists", mac, vf, err)
	case errors.Is(err, ErrNoVF):
		return
	case err != nil && !errors.Is(err, ErrAmbiguous):
		t.Fatalf("lookup %s vf %d: %v, want ErrNoPF, ErrNoVF or ErrAmbiguous", mac, vf, err)
	}
	i := slices.IndexFunc(ports, func(p Port) bool { return p.Handle() == rep.Handle })
	if i < 0 {
		t.Fatalf("lookup %s vf %d answered %+v, a port the input does not have", mac, vf, rep)
	}
	p := ports[i]
	if p.Flavour != PCIVF || p.Netdev == "" || p.Netdev != rep.Netdev || int(p.VFNum) != vf || p.Device != rep.Device ||
		p.Controller != rep.Controller || p.PFNum != rep.PFNum || p.VFNum != rep.VFNum || !bytes.Equal(rep.PFMAC, mac) {
		t.Fatalf("lookup %s vf %d answered %+v for port %+v", mac, vf, rep, p)
	}
}

// checkComplete: every VF representor under a PF whose pcipf port reports
// its MAC is found by that MAC (the pcipf port with the lowest handle
// names its PF, as the table documents).
func checkComplete(t *testing.T, tbl *Table, ports []Port) {
	t.Helper()
	sorted := slices.SortedFunc(slices.Values(ports), comparePorts)
	pfs := make(map[pfKey]Port)
	for _, p := range sorted {
		key := pfKey{p.Device, p.Controller, p.PFNum}
		if _, dup := pfs[key]; p.Flavour == PCIPF && !dup {
			pfs[key] = p
		}
	}
	for _, vf := range ports {
		pf, ok := pfs[pfKey{vf.Device, vf.Controller, vf.PFNum}]
		if vf.Flavour != PCIVF || vf.Netdev == "" || !ok || isZeroMAC(pf.HWAddr) {
			continue
		}
		if _, err := tbl.Lookup(pf.HWAddr, int(vf.VFNum)); err != nil && !errors.Is(err, ErrAmbiguous) {
			t.Fatalf("VF port %s of PF %s is not found: %v", vf.Handle(), pf.Handle(), err)
		}
	}
}

// FuzzDecodePortMessage feeds arbitrary commands and attributes to the
// decoder: it must not panic, what it accepts must be a usable port, and
// a port the kernel's layout can express decodes the same once encoded
// by the fixtures' generator.
func FuzzDecodePortMessage(f *testing.F) {
	for _, name := range []string{"port-dump.hex", "port-new.hex", "port-sf-new.hex", "port-del.hex"} {
		msgs, err := splitMessages(readNetlinkFixture(f, name))
		if err != nil {
			f.Fatal(err)
		}
		for _, m := range msgs {
			if cmd, attrs, err := decodeGenlHeader(m.Payload); err == nil {
				f.Add(cmd, attrs)
			}
		}
	}
	f.Fuzz(func(t *testing.T, cmd uint8, attrs []byte) {
		m, err := decodePortMessage(cmd, attrs)
		if err != nil {
			return
		}
		device, index, err := splitHandle(m.Port.Handle())
		if err != nil || device != m.Port.Device || index != m.Port.Index {
			t.Fatalf("accepted port %+v has an unusable handle: %v", m.Port, err)
		}
		if len(m.Port.HWAddr) > maxAddrLen {
			t.Fatalf("accepted a %d-byte hw_addr", len(m.Port.HWAddr))
		}
		// The decoded port must not alias the input.
		mac := bytes.Clone(m.Port.HWAddr)
		again, _ := decodePortMessage(cmd, bytes.Clone(attrs))
		scratch := bytes.Clone(attrs)
		m3, _ := decodePortMessage(cmd, scratch)
		for i := range scratch {
			scratch[i] ^= 0xff
		}
		if !bytes.Equal(m3.Port.HWAddr, mac) || !m3.Port.equal(again.Port) {
			t.Fatalf("decoded port changed with its input: %+v", m3.Port)
		}
		if !kernelLayoutFits(m.Port) {
			return
		}
		var fn []nla
		if m.Port.HWAddr != nil {
			fn = []nla{{typ: devlinkPortFnAttrHWAddr, data: m.Port.HWAddr}}
		}
		data, _ := renderMessages("", notification("fuzz", cmd, kernelPortAttrs(m.Port, m.IfIndex, fn)))
		want := m
		if m.Port.Type != "eth" || m.Port.Netdev == "" {
			want.IfIndex = 0 // the kernel sends the ifindex with the netdev name only
		}
		got, err := decodePortMessage(cmd, data[nlmsgHdrLen+genlHdrLen:])
		if err != nil || got.Del != want.Del || got.IfIndex != want.IfIndex || !got.Port.equal(want.Port) {
			t.Fatalf("re-encoded as the kernel would, %+v decodes as %+v, %v", want, got, err)
		}
	})
}

// kernelLayoutFits reports whether kernelPortAttrs can express p in full:
// a bus/device pair, a type and flavour the kernel has, a netdev only on
// an eth port, and no number outside what the flavour's layout carries.
func kernelLayoutFits(p Port) bool {
	bus, dev, ok := strings.Cut(p.Device, "/")
	if !ok || bus == "" || dev == "" || !slices.Contains(portTypes[:], p.Type) ||
		!slices.Contains(portFlavours[:], p.Flavour) || (p.Netdev != "" && p.Type != "eth") {
		return false
	}
	rest := Port{Controller: p.Controller, PFNum: p.PFNum, VFNum: p.VFNum, SFNum: p.SFNum,
		PortNumber: p.PortNumber, External: p.External}
	switch p.Flavour {
	case PCIPF:
		rest.Controller, rest.PFNum, rest.External = 0, 0, false
	case PCIVF:
		rest.Controller, rest.PFNum, rest.VFNum, rest.External = 0, 0, 0, false
	case PCISF:
		rest.Controller, rest.PFNum, rest.SFNum = 0, 0, 0
	case Physical, CPU, DSA:
		rest.PortNumber = 0
	}
	return rest.equal(Port{})
}

// FuzzSplitMessages covers the datagram layer and what the source does
// with each message, devlink or rtnetlink; what splits must split the
// same once written back with zero padding.
func FuzzSplitMessages(f *testing.F) {
	for _, name := range []string{"port-dump.hex", "port-new.hex", "port-sf-new.hex", "port-del.hex"} {
		f.Add(readNetlinkFixture(f, name))
	}
	link, _ := renderMessages("", linkMessage(rtmNewLink, 9, "pf0vf1"))
	f.Add(link)
	f.Fuzz(func(t *testing.T, data []byte) {
		msgs, err := splitMessages(data)
		if err != nil {
			return
		}
		total := 0
		written := make([]fixtureMsg, len(msgs))
		for i, m := range msgs {
			total += nlmsgHdrLen + len(m.Payload)
			if cmd, attrs, err := decodeGenlHeader(m.Payload); err == nil {
				_, _ = decodePortMessage(cmd, attrs)
			}
			_, _, _ = decodeLinkMessage(m.Payload)
			written[i] = fixtureMsg{typ: m.Type, flags: m.Flags, seq: m.Seq, pid: m.Pid, raw: m.Payload}
		}
		if total > len(data) {
			t.Fatalf("messages cover %d bytes of %d", total, len(data))
		}
		again, _ := renderMessages("", written...)
		got, err := splitMessages(again)
		if err != nil || !slices.EqualFunc(got, msgs, sameMessage) {
			t.Fatalf("written back, %d messages split as %+v, %v; want %+v", len(msgs), got, err, msgs)
		}
	})
}

func sameMessage(a, b nlMessage) bool {
	return a.Type == b.Type && a.Flags == b.Flags && a.Seq == b.Seq && a.Pid == b.Pid && bytes.Equal(a.Payload, b.Payload)
}

package hoststate

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func openStore(t *testing.T) *Store {
	t.Helper()
	s, err := Open(filepath.Join(t.TempDir(), "state"))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func sample(cid, ifname, network string) *Attachment {
	return &Attachment{
		Key:           Key{ContainerID: cid, IfName: ifname},
		Network:       network,
		AttachmentID:  "att-" + cid,
		LSPName:       "node1_" + cid + "_" + ifname,
		LogicalSwitch: "ls0",
		DeviceID:      "0000:03:00.2",
		NetnsPath:     "/var/run/netns/" + cid,
		PodNamespace:  "default",
		PodName:       "pod-" + cid,
		VF:            VF{HostNetdev: "ens1f0v0", MAC: "0a:00:00:00:00:01", MTU: 1500, PFMAC: "b8:ce:f6:00:00:01", VFIndex: 3},
		IPAM: &IPAM{
			Type:   "host-local",
			Config: json.RawMessage(`{"cniVersion":"1.1.0","name":"net1","ipam":{"type":"host-local"}}`),
			Result: json.RawMessage(`{"cniVersion":"1.1.0","ips":[{"address":"10.0.0.2/24"}]}`),
		},
	}
}

func TestOpenCreatesPrivateDir(t *testing.T) {
	s := openStore(t)
	fi, err := os.Stat(s.Dir())
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm != 0o700 {
		t.Fatalf("state dir mode %o, want 700", perm)
	}
}

func TestSaveLoadRoundTrip(t *testing.T) {
	s := openStore(t)
	a := sample("c1", "eth0", "net1")
	now := time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)
	a.Intend(StepIPAM, now)
	a.Done(StepIPAM, now)
	a.Intend(StepLSP, now)
	if err := s.Save(a); err != nil {
		t.Fatal(err)
	}
	if a.Version != SchemaVersion || a.CreatedAt.IsZero() || a.UpdatedAt.IsZero() {
		t.Fatalf("Save did not stamp version/times: %+v", a)
	}
	got, err := s.Load(a.Key)
	if err != nil {
		t.Fatal(err)
	}
	// RawMessage is compared as bytes; MarshalIndent re-indents it.
	if !jsonEqual(t, got.IPAM.Config, a.IPAM.Config) || !jsonEqual(t, got.IPAM.Result, a.IPAM.Result) {
		t.Fatalf("IPAM differs: %s / %s", got.IPAM.Config, got.IPAM.Result)
	}
	got.IPAM, a.IPAM = nil, nil
	if !reflect.DeepEqual(got, a) {
		t.Fatalf("round trip:\n got %+v\nwant %+v", got, a)
	}

	created := got.CreatedAt
	got.Done(StepLSP, now)
	if err := s.Save(got); err != nil {
		t.Fatal(err)
	}
	again, err := s.Load(a.Key)
	if err != nil {
		t.Fatal(err)
	}
	if !again.CreatedAt.Equal(created) {
		t.Fatalf("CreatedAt changed on re-save: %v -> %v", created, again.CreatedAt)
	}
	if st, _ := again.Step(StepLSP); st.State != StepDone {
		t.Fatalf("lsp step %+v, want done", st)
	}
}

func jsonEqual(t *testing.T, a, b json.RawMessage) bool {
	t.Helper()
	var x, y any
	if err := json.Unmarshal(a, &x); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &y); err != nil {
		t.Fatal(err)
	}
	return reflect.DeepEqual(x, y)
}

func TestLoadMissingAndDeleteIdempotent(t *testing.T) {
	s := openStore(t)
	k := Key{ContainerID: "nope", IfName: "eth0"}
	if _, err := s.Load(k); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Load missing: %v, want ErrNotFound", err)
	}
	if err := s.Delete(k); err != nil {
		t.Fatalf("Delete missing: %v", err)
	}
	a := sample("c1", "eth0", "net1")
	if err := s.Save(a); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		if err := s.Delete(a.Key); err != nil {
			t.Fatalf("Delete #%d: %v", i, err)
		}
	}
	if _, err := s.Load(a.Key); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Load after Delete: %v", err)
	}
}

func TestHostileKeysGetDistinctSafeNames(t *testing.T) {
	s := openStore(t)
	long := strings.Repeat("x", 300)
	keys := []Key{
		{"abc", "eth0"},
		{"a.b", "c"},
		{"a", "b.c"},
		{"a_b", "c"},
		{"a", "b_c"},
		{"../../etc/passwd", "eth0"},
		{"/", "/"},
		{"", ""},
		{"x", ""},
		{"", "x"},
		{"%41", "eth0"},
		{"A", "eth0"},
		{"a\x00b\nc", "e\t"},
		{"contänér", "eth0"},
		{long, "eth0"},
		{long + "y", "eth0"},
		{long[:299], "xeth0"},
	}
	names := map[string]Key{}
	for _, k := range keys {
		n := fileName(k)
		if prev, dup := names[n]; dup {
			t.Fatalf("keys %q and %q share file name %q", prev, k, n)
		}
		names[n] = k
		if len(n) > 255 || strings.ContainsAny(n, "/\x00") || !isRecordName(n) {
			t.Fatalf("unsafe name %q for %q", n, k)
		}
		a := sample(k.ContainerID, k.IfName, "net1")
		a.Key = k
		if err := s.Save(a); err != nil {
			t.Fatalf("Save %q: %v", k, err)
		}
	}
	for _, k := range keys {
		got, err := s.Load(k)
		if err != nil {
			t.Fatalf("Load %q: %v", k, err)
		}
		if got.Key != k {
			t.Fatalf("Load %q returned %q", k, got.Key)
		}
	}
	all, err := s.List()
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != len(keys) {
		t.Fatalf("List returned %d records, want %d", len(all), len(keys))
	}
	// Nothing may have escaped the state directory.
	entries, err := os.ReadDir(filepath.Dir(s.Dir()))
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 {
		t.Fatalf("files outside the state dir: %v", entries)
	}
}

func TestListByNetworkAndCorruptFiles(t *testing.T) {
	s := openStore(t)
	for _, a := range []*Attachment{
		sample("c1", "eth0", "net1"),
		sample("c1", "net1", "net2"),
		sample("c2", "eth0", "net1"),
		sample("c3", "eth0", "net2"),
	} {
		if err := s.Save(a); err != nil {
			t.Fatal(err)
		}
	}
	bad := map[string]string{
		fileName(Key{"broken", "eth0"}):   `{"version":1,"key":`,
		fileName(Key{"future", "eth0"}):   `{"version":99,"key":{"containerID":"future","ifName":"eth0"},"network":"net1"}`,
		fileName(Key{"noversion", "e"}):   `{"key":{"containerID":"noversion","ifName":"e"},"network":"net1"}`,
		fileName(Key{"misplaced", "e"}):   `{"version":1,"key":{"containerID":"other","ifName":"e"},"network":"net1"}`,
		fileName(Key{"trailing", "eth0"}): `{"version":1,"key":{"containerID":"trailing","ifName":"eth0"},"network":"net1"} {}`,
	}
	for name, body := range bad {
		if err := os.WriteFile(filepath.Join(s.Dir(), name), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	// Not records: ignored, not reported.
	for _, name := range []string{"README", ".tmp-123", "k.x.y.json.bak"} {
		if err := os.WriteFile(filepath.Join(s.Dir(), name), []byte("junk"), 0o600); err != nil {
			t.Fatal(err)
		}
	}

	got, err := s.ListByNetwork("net1")
	if !errors.Is(err, ErrCorrupt) {
		t.Fatalf("ListByNetwork error %v, want ErrCorrupt", err)
	}
	for name := range bad {
		if !strings.Contains(err.Error(), name) {
			t.Errorf("error does not name corrupt file %s: %v", name, err)
		}
	}
	if keys := keysOf(got); !reflect.DeepEqual(keys, []Key{{"c1", "eth0"}, {"c2", "eth0"}}) {
		t.Fatalf("ListByNetwork(net1) = %v", keys)
	}
	got, _ = s.ListByNetwork("net2")
	if keys := keysOf(got); !reflect.DeepEqual(keys, []Key{{"c1", "net1"}, {"c3", "eth0"}}) {
		t.Fatalf("ListByNetwork(net2) = %v", keys)
	}
	got, _ = s.List()
	if len(got) != 4 {
		t.Fatalf("List returned %d good records, want 4", len(got))
	}

	for _, k := range []Key{{"broken", "eth0"}, {"future", "eth0"}, {"misplaced", "e"}} {
		_, err := s.Load(k)
		if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), fileName(k)) {
			t.Errorf("Load %v: %v, want ErrCorrupt naming the file", k, err)
		}
	}
}

func TestSaveRejectsInvalidUTF8(t *testing.T) {
	s := openStore(t)
	a := sample("c\xff", "eth0", "net1")
	if err := s.Save(a); err == nil || !strings.Contains(err.Error(), "UTF-8") {
		t.Fatalf("Save of a non-UTF-8 key: %v, want an error saying so", err)
	}
}

func keysOf(as []*Attachment) []Key {
	var ks []Key
	for _, a := range as {
		ks = append(ks, a.Key)
	}
	return ks
}

func TestSurvivesReopenAndCleansTempFiles(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	a := sample("c1", "eth0", "net1")
	if err := s.Save(a); err != nil {
		t.Fatal(err)
	}
	// What a crash between CreateTemp and Rename leaves behind.
	if err := os.WriteFile(filepath.Join(dir, tempPrefix+"999"), []byte(`{"partial`), 0o600); err != nil {
		t.Fatal(err)
	}
	s2, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s2.Load(a.Key); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 || entries[0].Name() != fileName(a.Key) {
		t.Fatalf("after reopen the dir holds %v, want only the record", entries)
	}
	fi, err := os.Stat(filepath.Join(dir, fileName(a.Key)))
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm != 0o600 {
		t.Fatalf("record mode %o, want 600", perm)
	}
}

func TestStepsUndoOrder(t *testing.T) {
	var a Attachment
	t0 := time.Unix(0, 0)
	a.Intend(StepIPAM, t0)
	a.Done(StepIPAM, t0)
	a.Intend(StepLSP, t0)
	a.Done(StepLSP, t0)
	a.Intend(StepVFMoved, t0)
	// A retried ADD redoes the LSP: it keeps its place but is uncertain again.
	a.Intend(StepLSP, t0)

	var got []Step
	got = append(got, a.UndoSteps()...)
	want := []Step{
		{StepVFMoved, StepIntent, t0},
		{StepLSP, StepIntent, t0},
		{StepIPAM, StepDone, t0},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("UndoSteps = %+v, want %+v", got, want)
	}
	a.Forget(StepVFMoved)
	a.Forget(StepVFMoved)
	if _, ok := a.Step(StepVFMoved); ok || len(a.Steps) != 2 {
		t.Fatalf("Forget left %+v", a.Steps)
	}
}

// Devices knows this store's own records without reading them, sees a
// record another process wrote or removed, and reports an unreadable one
// next to the good ones.
func TestDevicesFollowsTheDirectory(t *testing.T) {
	s := openStore(t)
	a, b := sample("c1", "eth0", "net1"), sample("c2", "eth0", "net1")
	b.DeviceID = "0000:03:00.3"
	for _, att := range []*Attachment{a, b} {
		if err := s.Save(att); err != nil {
			t.Fatal(err)
		}
	}
	want := map[Key]string{a.Key: "0000:03:00.2", b.Key: "0000:03:00.3"}
	if got, err := s.Devices(); err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("Devices = %v, %v; want %v", got, err, want)
	}
	other, err := Open(s.Dir()) // another process over the same directory
	if err != nil {
		t.Fatal(err)
	}
	c := sample("c3", "eth0", "net1")
	c.DeviceID = "0000:03:00.4"
	if err := other.Save(c); err != nil {
		t.Fatal(err)
	}
	if err := other.Delete(a.Key); err != nil {
		t.Fatal(err)
	}
	want = map[Key]string{b.Key: "0000:03:00.3", c.Key: "0000:03:00.4"}
	if got, err := s.Devices(); err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("after another store's Save and Delete, Devices = %v, %v; want %v", got, err, want)
	}
	if err := os.WriteFile(filepath.Join(s.Dir(), "k.broken.eth0.json"), []byte("{"), 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := s.Devices()
	if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "k.broken.eth0.json") || !reflect.DeepEqual(got, want) {
		t.Fatalf("with a corrupt record, Devices = %v, %v; want the good ones and ErrCorrupt naming the file", got, err)
	}
}

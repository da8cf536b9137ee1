package devlink

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ovn-dpu/ovn-dpu/pkg/testenv"
)

// waitFor polls cond until it holds or a generous deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func writeDump(t *testing.T, path string, ports []Port) {
	t.Helper()
	data, err := EncodeDump(ports)
	if err != nil {
		t.Fatal(err)
	}
	writeAtomic(t, path, data)
}

// writeAtomic renames into place, as a careful test bed would.
func writeAtomic(t *testing.T, path string, data []byte) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// runSource starts src and stops it when the test ends, checking that Run
// returns nil on cancellation.
func runSource(t *testing.T, src Source) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- src.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run returned %v after cancel", err)
		}
	})
}

func found(tbl *Table, mac string, vf int, netdev string) func() bool {
	hw, err := net.ParseMAC(mac)
	if err != nil {
		panic(err)
	}
	return func() bool {
		rep, err := tbl.Lookup(hw, vf)
		return err == nil && rep.Netdev == netdev
	}
}

func TestFileSourceLoad(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "ports.json")
	tbl := NewTable(WithLogger(testLogger(t)))
	src := NewFileSource(path, tbl, WithLogger(testLogger(t)))

	if err := src.Load(); !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), path) {
		t.Fatalf("Load of a missing file: %v, want ErrNotExist naming %s", err, path)
	}
	writeAtomic(t, path, []byte(`{"port":{"pci/0000:03:00.0/1":{"pfnum":"x"}}}`))
	if err := src.Load(); err == nil || !strings.Contains(err.Error(), `"pci/0000:03:00.0/1"`) {
		t.Fatalf("Load of a bad file: %v, want an error naming the port", err)
	}
	writeDump(t, path, loadFixture(t, "bluefield.json"))
	if err := src.Load(); err != nil {
		t.Fatal(err)
	}
	checkLookups(t, tbl, blueFieldCases)

	// A bad file is reported every time it is loaded, and changes nothing.
	writeAtomic(t, path, []byte(`{"port":`))
	for range 2 {
		if err := src.Load(); err == nil {
			t.Fatal("Load of a truncated file succeeded")
		}
	}
	checkLookups(t, tbl, blueFieldCases)
}

func TestFileSourceFollowsFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "ports.json")
	ports := loadFixture(t, "bluefield.json")
	writeDump(t, path, ports)

	logs := &testenv.LogBuffer{}
	changed := make(chan struct{}, 1)
	tbl := NewTable(WithLogger(testLogger(t)), WithOnChange(func() {
		select {
		case changed <- struct{}{}:
		default:
		}
	}))
	src := NewFileSource(path, tbl, WithPollInterval(5*time.Millisecond),
		WithLogger(slog.New(slog.NewTextHandler(logs, nil))))
	runSource(t, src)
	waitFor(t, "first load", found(tbl, pf0MAC, 3, "pf0vf3"))
	<-changed

	// A corrupt write is logged (once) and the last good table stays.
	writeAtomic(t, path, []byte(`{"port":{"pci/0000:03:00.0/196613":{"type":"eth","netd`))
	waitFor(t, "the parse error to be logged", func() bool { return strings.Contains(logs.String(), "keeping the last good one") })
	checkLookups(t, tbl, blueFieldCases)
	select {
	case <-changed:
		t.Fatal("a corrupt file changed the table")
	default:
	}

	// A representor appended later is picked up.
	ports = append(ports, Port{Device: "pci/0000:03:00.0", Index: 196613, Type: "eth", Netdev: "pf0vf4",
		Flavour: PCIVF, Controller: 1, VFNum: 4, External: true})
	writeDump(t, path, ports)
	waitFor(t, "the new VF", found(tbl, pf0MAC, 4, "pf0vf4"))
	checkLookups(t, tbl, blueFieldCases[:4])
	if n := strings.Count(logs.String(), "keeping the last good one"); n != 1 {
		t.Fatalf("parse error logged %d times, want once:\n%s", n, logs)
	}
}

// TestFileSourceSameSizeRewrite changes one character, keeping size and
// mtime, as a quick rewrite on a filesystem with coarse timestamps would.
func TestFileSourceSameSizeRewrite(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ports.json")
	ports := loadFixture(t, "bluefield.json")
	writeDump(t, path, ports)
	// A future mtime stays "recent" however slow the test machine is.
	mtime := time.Now().Add(time.Hour)
	if err := os.Chtimes(path, mtime, mtime); err != nil {
		t.Fatal(err)
	}
	tbl := NewTable(WithLogger(testLogger(t)))
	runSource(t, NewFileSource(path, tbl, WithPollInterval(5*time.Millisecond), WithLogger(testLogger(t))))
	waitFor(t, "first load", found(tbl, pf0MAC, 3, "pf0vf3"))

	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, bytes.Replace(data, []byte(`"pf0vf3"`), []byte(`"pf0vfX"`), 1), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(path, mtime, mtime); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the renamed VF", found(tbl, pf0MAC, 3, "pf0vfX"))
}

func TestFileSourceFileAppearsLater(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ports.json")
	logs := &testenv.LogBuffer{}
	tbl := NewTable(WithLogger(testLogger(t)))
	runSource(t, NewFileSource(path, tbl, WithPollInterval(5*time.Millisecond),
		WithLogger(slog.New(slog.NewTextHandler(logs, nil)))))
	waitFor(t, "the missing file to be logged", func() bool { return strings.Contains(logs.String(), "no such file") })

	writeDump(t, path, loadFixture(t, "bluefield.json"))
	waitFor(t, "the file to be loaded", found(tbl, pf1MAC, 2, "pf1vf2"))

	// Removing the file keeps what was loaded.
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the removal to be logged", func() bool { return strings.Count(logs.String(), "no such file") == 2 })
	checkLookups(t, tbl, blueFieldCases)
}

func TestFileSourceResyncRereadsSysfs(t *testing.T) {
	sysfs := t.TempDir()
	path := filepath.Join(t.TempDir(), "ports.json")
	writeDump(t, path, loadFixture(t, "host-connectx.json"))
	tbl := NewTable(WithLogger(testLogger(t)), WithSysfsRoot(sysfs))
	runSource(t, NewFileSource(path, tbl, WithPollInterval(time.Hour), WithResyncInterval(5*time.Millisecond),
		WithLogger(testLogger(t))))
	waitFor(t, "first load", func() bool { return tbl.Len() == 2 })

	writeSysfsFile(t, sysfs, "class/net/enp7s0f0/address", "0c:42:a1:00:00:01\n")
	waitFor(t, "the PF MAC from sysfs", found(tbl, "0c:42:a1:00:00:01", 0, "enp7s0f0_0"))
}

func writeSysfsFile(t *testing.T, root, rel, content string) {
	t.Helper()
	path := filepath.Join(root, rel)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	writeAtomic(t, path, []byte(content))
}

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/containernetworking/cni/pkg/types"

	"github.com/ovn-dpu/ovn-dpu/pkg/cniclient/cniclienttest"
	ovndpuv1 "github.com/ovn-dpu/ovn-dpu/proto/ovndpu/v1"
)

// wantDeviceInfo is the record for the VF config names (deviceID
// 0000:03:00.2), in the Device Information Specification's format.
var wantDeviceInfo = map[string]any{
	"type": "pci", "version": "1.1.0", "pci": map[string]any{"pci-address": "0000:03:00.2"},
}

// deviceInfoConfig is config with runtimeConfig.CNIDeviceInfoFile set to
// path, as Multus passes it; the later runtimeConfig key wins. deviceID is
// in its short form, which the record must not repeat.
func deviceInfoConfig(cniVersion, socket, path string) string {
	return config(cniVersion, socket, fmt.Sprintf(`, "deviceID": "03:00.2", "runtimeConfig": {"CNIDeviceInfoFile": %q}`, path))
}

// byCommand answers each verb with its own handler.
func byCommand(handlers map[string]cniclienttest.Handler) cniclienttest.Handler {
	return func(ctx context.Context, req *ovndpuv1.CNIRequest) (*ovndpuv1.CNIResponse, error) {
		return handlers[req.GetCommand()](ctx, req)
	}
}

func readDeviceInfo(t *testing.T, path string) map[string]any {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("reading the device information file: %v", err)
	}
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatalf("device information file %s is not JSON: %v\n%s", path, err, data)
	}
	return m
}

// ADD writes the record read-only, in a directory it creates, and leaves
// no temp file; in every cniVersion, 0.4.0 results carrying no pciID.
func TestAddWritesDeviceInfo(t *testing.T) {
	agent := cniclienttest.Start(t, "", resultAgent)
	for _, ver := range []string{"0.4.0", "1.0.0", "1.1.0"} {
		t.Run(ver, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "devinfo", "cni")
			path := filepath.Join(dir, "ovnnet-c0ffee_net1")
			if o := run(t, addInvocation(deviceInfoConfig(ver, agent.Socket, path))); o.exitCode != 0 {
				t.Fatalf("exit %d, stdout %s, stderr %s", o.exitCode, o.stdout, o.stderr)
			}
			if got := readDeviceInfo(t, path); !reflect.DeepEqual(got, wantDeviceInfo) {
				t.Errorf("device information = %v, want %v", got, wantDeviceInfo)
			}
			if st, err := os.Stat(path); err != nil {
				t.Error(err)
			} else if st.Mode() != deviceInfoMode {
				t.Errorf("device information file mode = %v, want %v", st.Mode(), deviceInfoMode)
			}
			if entries, err := os.ReadDir(dir); err != nil || len(entries) != 1 {
				t.Errorf("directory %s holds %v (%v), want the file alone", dir, entries, err)
			}
		})
	}
}

// A record Multus copied from the device plugin for the same VF is kept
// (it may say more); anything else is replaced by the plugin's own.
func TestAddKeepsOrReplacesExistingDeviceInfo(t *testing.T) {
	agent := cniclienttest.Start(t, "", resultAgent)
	const dpCopy = `{"type":"pci","version":"1.1.0","pci":{"pci-address":"0000:03:00.2","rdma-device":"mlx5_3"}}`
	for name, tc := range map[string]struct {
		existing string
		want     map[string]any
	}{
		"device plugin's copy for the VF": {dpCopy, map[string]any{"type": "pci", "version": "1.1.0",
			"pci": map[string]any{"pci-address": "0000:03:00.2", "rdma-device": "mlx5_3"}}},
		"record for another VF": {`{"type":"pci","version":"1.0.0","pci":{"pci-address":"0000:03:00.3"}}`, wantDeviceInfo},
		"not a record":          {`{"type":"pci"`, wantDeviceInfo},
	} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "devinfo")
			if err := os.WriteFile(path, []byte(tc.existing), 0o644); err != nil {
				t.Fatal(err)
			}
			if o := run(t, addInvocation(deviceInfoConfig("1.1.0", agent.Socket, path))); o.exitCode != 0 {
				t.Fatalf("exit %d, stdout %s, stderr %s", o.exitCode, o.stdout, o.stderr)
			}
			if got := readDeviceInfo(t, path); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("device information = %v, want %v", got, tc.want)
			}
		})
	}
}

// Without runtimeConfig.CNIDeviceInfoFile, ADD writes no file (not even
// relative to where the runtime runs it) and sends the agent nothing but
// the ADD.
func TestAddWithoutDeviceInfoFileWritesNothing(t *testing.T) {
	agent := cniclienttest.Start(t, "", resultAgent)
	inv := addInvocation(config("1.1.0", agent.Socket, ""))
	inv.dir = t.TempDir()
	if o := run(t, inv); o.exitCode != 0 {
		t.Fatalf("exit %d, stdout %s, stderr %s", o.exitCode, o.stdout, o.stderr)
	}
	if entries, err := os.ReadDir(inv.dir); err != nil || len(entries) != 0 {
		t.Errorf("ADD left %v (%v) in its working directory", entries, err)
	}
	if reqs := agent.Requests(); len(reqs) != 1 {
		t.Errorf("agent got %d requests, want the ADD alone: %v", len(reqs), reqs)
	}
}

// A record that cannot be written fails the ADD with code 5 naming the
// path, and the plugin has the agent undo the attachment first.
func TestDeviceInfoWriteFailureUndoesAdd(t *testing.T) {
	for name, tc := range map[string]struct {
		del     cniclienttest.Handler
		details string
	}{
		"undone":      {cniclienttest.Result(nil), "the attachment was undone"},
		"undo failed": {cniclienttest.Error(11, "DPU agent not reachable", ""), "undoing the attachment failed too"},
	} {
		t.Run(name, func(t *testing.T) {
			agent := cniclienttest.Start(t, "", byCommand(map[string]cniclienttest.Handler{"ADD": resultAgent, "DEL": tc.del}))
			parent := filepath.Join(t.TempDir(), "not-a-dir")
			if err := os.WriteFile(parent, nil, 0o644); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(parent, "devinfo")
			inv := addInvocation(deviceInfoConfig("1.1.0", agent.Socket, path))
			o := run(t, inv)
			m := decodeJSON(t, o.stdout)
			msg, _ := m["msg"].(string)
			details, _ := m["details"].(string)
			if o.exitCode != 1 || m["code"] != float64(types.ErrIOFailure) || !strings.Contains(msg, path) ||
				!strings.Contains(details, tc.details) {
				t.Errorf("exit %d, stdout %s; want code 5 naming %s, details %q", o.exitCode, o.stdout, path, tc.details)
			}
			undo := inv.request()
			undo.Command = "DEL"
			if reqs := agent.Requests(); len(reqs) != 2 || !sameRequest(reqs[1], undo) {
				t.Errorf("agent got %v, want the ADD and then %v", reqs, undo)
			}
		})
	}
}

// DEL removes the record once the agent has detached; a record already
// gone is fine, a failed DEL keeps it, and one that cannot be removed only
// warns.
func TestDelRemovesDeviceInfo(t *testing.T) {
	for name, tc := range map[string]struct {
		agent    cniclienttest.Handler
		existing func(path string) error
		exitCode int
		left     bool
	}{
		"file there":      {cniclienttest.Result(nil), writeRecord, 0, false},
		"file gone":       {cniclienttest.Result(nil), func(string) error { return nil }, 0, false},
		"agent DEL fails": {cniclienttest.Error(11, "DPU agent not reachable", ""), writeRecord, 1, true},
		"cannot remove": {cniclienttest.Result(nil), func(path string) error {
			return os.MkdirAll(filepath.Join(path, "in-the-way"), 0o755)
		}, 0, true},
	} {
		t.Run(name, func(t *testing.T) {
			agent := cniclienttest.Start(t, "", tc.agent)
			path := filepath.Join(t.TempDir(), "devinfo")
			if err := tc.existing(path); err != nil {
				t.Fatal(err)
			}
			inv := addInvocation(deviceInfoConfig("1.1.0", agent.Socket, path))
			inv.command = "DEL"
			o := run(t, inv)
			if o.exitCode != tc.exitCode {
				t.Errorf("exit %d, stdout %s, stderr %s; want %d", o.exitCode, o.stdout, o.stderr, tc.exitCode)
			}
			_, err := os.Lstat(path)
			if left := err == nil; left != tc.left {
				t.Errorf("after DEL %s is left: %v (%v), want %v", path, left, err, tc.left)
			}
			if tc.left && tc.exitCode == 0 && !strings.Contains(o.stderr, path) {
				t.Errorf("stderr %q does not name %s", o.stderr, path)
			}
		})
	}
}

func writeRecord(path string) error {
	data, err := json.Marshal(wantDeviceInfo)
	if err != nil {
		return err
	}
	return os.WriteFile(path, data, deviceInfoMode)
}

package netns

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// Preflight finds what MoveIn would refuse, names it, and changes nothing;
// on a request MoveIn can carry out it says nothing, and MoveIn works.
func TestPreflight(t *testing.T) {
	b := newBed(t)
	file := filepath.Join(t.TempDir(), "not-a-netns")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	// A link called eth1 in the pod, as a runtime that reuses a name leaves.
	b.pod.ip(t, "link", "add", "eth1", "type", "veth", "peer", "name", "eth1p")
	for name, tc := range map[string]struct {
		mutate func(*MoveInRequest)
		want   []error
		msg    string
	}{
		"pod netns missing":     {func(r *MoveInRequest) { r.PodNetns = filepath.Join(t.TempDir(), "gone") }, []error{ErrNetnsNotFound}, "gone"},
		"pod netns a file":      {func(r *MoveInRequest) { r.PodNetns = file }, []error{ErrNotNetns}, file},
		"pod netns a directory": {func(r *MoveInRequest) { r.PodNetns = t.TempDir() }, []error{ErrNotNetns}, ""},
		"pod netns a mount namespace": {func(r *MoveInRequest) { r.PodNetns = "/proc/self/ns/mnt" }, []error{ErrNotNetns},
			"/proc/self/ns/mnt"},
		"pod netns relative": {func(r *MoveInRequest) { r.PodNetns = strings.TrimPrefix(b.pod.path, "/") }, []error{ErrNotNetns},
			"not an absolute path"},
		"pod netns the host's": {func(r *MoveInRequest) { r.PodNetns = b.host.path }, []error{ErrHostNetns, ErrInvalidRequest}, b.host.path},
		"ifname taken":         {func(r *MoveInRequest) { r.IfName = "eth1" }, []error{ErrNameTaken}, `"eth1" already exists in pod netns`},
		"ifname too long":      {func(r *MoveInRequest) { r.IfName = "sixteen-chars-xx" }, []error{ErrInvalidIfName, ErrInvalidRequest}, "15 bytes"},
		"ifname with a space":  {func(r *MoveInRequest) { r.IfName = "eth 0" }, []error{ErrInvalidIfName}, `"eth 0"`},
		"VF not at home":       {func(r *MoveInRequest) { r.VFNetdev = "odpu-nosuchvf" }, []error{ErrLinkNotFound}, "odpu-nosuchvf"},
	} {
		t.Run(name, func(t *testing.T) {
			req := b.moveInReq(t)
			tc.mutate(&req)
			err := b.p.Preflight(context.Background(), req)
			for _, want := range tc.want {
				if !errors.Is(err, want) {
					t.Errorf("Preflight: %v, want %v", err, want)
				}
			}
			if err != nil && !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("Preflight: %v, want it to name %q", err, tc.msg)
			}
			wantHome(t, b.host, b.vf)
		})
	}
	names := b.pod.linkNames(t)
	if slices.Sort(names); strings.Join(names, ",") != "eth1,eth1p,lo" {
		t.Errorf("pod links %v after the preflights, want eth1, eth1p and lo", names)
	}
	req := b.moveInReq(t)
	if err := b.p.Preflight(context.Background(), req); err != nil {
		t.Fatalf("Preflight of a good request: %v", err)
	}
	wantHome(t, b.host, b.vf)
	if _, err := b.p.MoveIn(context.Background(), req); err != nil {
		t.Fatalf("MoveIn after a good Preflight: %v", err)
	}
}

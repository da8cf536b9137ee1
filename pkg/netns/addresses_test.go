package netns

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"testing"

	"github.com/containernetworking/cni/pkg/types"
	current "github.com/containernetworking/cni/pkg/types/100"
)

// lateReq is b.moveInReq with its addressing handed over by an Addresses
// callback that runs check first.
func lateReq(t *testing.T, b bed, check func(ctx context.Context) error) MoveInRequest {
	req := b.moveInReq(t)
	ips, routes := req.IPs, req.Routes
	req.IPs, req.Routes = nil, nil
	req.Addresses = func(ctx context.Context) ([]*current.IPConfig, []*types.Route, error) {
		if err := check(ctx); err != nil {
			return nil, nil, err
		}
		return ips, routes, nil
	}
	return req
}

func TestMoveInLateAddresses(t *testing.T) {
	b := newBed(t)
	calls := 0
	ownNS := threadNetns(t)
	req := lateReq(t, b, func(context.Context) error {
		calls++
		if cur := threadNetns(t); cur != ownNS {
			return fmt.Errorf("callback runs in netns %s, not the caller's %s", cur, ownNS)
		}
		// The link must already be in the pod, named, with MAC and MTU.
		st, ok := b.pod.link(t, "eth0")
		if !ok {
			return fmt.Errorf("no eth0 in pod yet; pod has %v", b.pod.linkNames(t))
		}
		if want := (net.HardwareAddr{0x0a, 0x58, 0x0a, 0x14, 0x00, 0x05}); st.mac.String() != want.String() || st.mtu != 1450 {
			return fmt.Errorf("eth0 in pod has MAC %s MTU %d, want %s 1450", st.mac, st.mtu, want)
		}
		if _, home := b.host.link(t, b.vf.name); home {
			return errors.New("VF still at home")
		}
		return nil
	})
	placed, err := b.p.MoveIn(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	if calls != 1 {
		t.Errorf("Addresses called %d times, want once", calls)
	}
	full := b.moveInReq(t)
	wantInPod(t, b, full)
	if fmt.Sprint(placed.IPs, placed.Routes) != fmt.Sprint(full.IPs, full.Routes) {
		t.Errorf("Placed has IPs %v routes %v, want the callback's %v %v", placed.IPs, placed.Routes, full.IPs, full.Routes)
	}
	if err := b.p.Check(context.Background(), checkReq(b, full)); err != nil {
		t.Errorf("Check: %v", err)
	}
}

func TestMoveInLateAddressesFail(t *testing.T) {
	cbErr := errors.New("northd assigned no address")
	const inStep = `get addresses for "eth0" in pod netns`
	cases := map[string]struct {
		req     func(t *testing.T, b bed, cancel context.CancelFunc) MoveInRequest
		wantErr error
		wantMsg string
	}{
		"callback fails": {
			req: func(t *testing.T, b bed, _ context.CancelFunc) MoveInRequest {
				return lateReq(t, b, func(context.Context) error { return fmt.Errorf("wait for LSP: %w", cbErr) })
			},
			wantErr: cbErr, wantMsg: inStep,
		},
		"context ends while waiting": {
			req: func(t *testing.T, b bed, cancel context.CancelFunc) MoveInRequest {
				return lateReq(t, b, func(ctx context.Context) error {
					cancel()
					<-ctx.Done()
					return ctx.Err()
				})
			},
			wantErr: context.Canceled, wantMsg: inStep,
		},
		"context ends, callback returns addresses anyway": {
			req: func(t *testing.T, b bed, cancel context.CancelFunc) MoveInRequest {
				return lateReq(t, b, func(context.Context) error { cancel(); return nil })
			},
			wantErr: context.Canceled, wantMsg: "before ", // the next step
		},
		"callback returns an IP config without address": {
			req: func(t *testing.T, b bed, _ context.CancelFunc) MoveInRequest {
				req := b.moveInReq(t)
				req.Addresses = func(context.Context) ([]*current.IPConfig, []*types.Route, error) {
					return []*current.IPConfig{{}}, nil, nil
				}
				return req
			},
			wantErr: ErrInvalidRequest, wantMsg: inStep,
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			b := newBed(t)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			_, err := b.p.MoveIn(ctx, tc.req(t, b, cancel))
			if !errors.Is(err, tc.wantErr) || !strings.Contains(err.Error(), tc.wantMsg) {
				t.Fatalf("MoveIn: %v, want %v naming %q", err, tc.wantErr, tc.wantMsg)
			}
			if strings.Contains(err.Error(), "rollback incomplete") {
				t.Errorf("rollback incomplete: %v", err)
			}
			wantHome(t, b.host, b.vf)
			wantNotInPod(t, b.pod)
		})
	}
}

// threadNetns names the network namespace of the calling thread.
func threadNetns(t *testing.T) string {
	t.Helper()
	target, err := os.Readlink("/proc/thread-self/ns/net")
	if err != nil {
		t.Fatal(err)
	}
	return target
}

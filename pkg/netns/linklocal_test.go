package netns

import (
	"bytes"
	"context"
	"net"
	"testing"
)

// TestMoveInLinkLocalOfTheMACToCome: a VF whose MAC someone else sets (a
// DPU that sets VF MACs) is moved in with its MAC as found, and gets the
// link-local address of the MAC it is about to have, the one OVN port
// security admits; a MAC the request sets wins over LinkLocalMAC.
func TestMoveInLinkLocalOfTheMACToCome(t *testing.T) {
	toCome := net.HardwareAddr{0x0e, 0, 0, 0, 0xaa, 0x01}
	for name, setMAC := range map[string]bool{"MAC kept": false, "MAC set": true} {
		t.Run(name, func(t *testing.T) {
			b := newBed(t)
			req := b.moveInReq(t)
			want := req.MAC
			if !setMAC {
				req.MAC = nil
			}
			req.LinkLocalMAC = toCome
			placed, err := b.p.MoveIn(context.Background(), req)
			if err != nil {
				t.Fatal(err)
			}
			if setMAC {
				if !bytes.Equal(placed.MAC, want) {
					t.Fatalf("eth0 has MAC %s, want %s", placed.MAC, want)
				}
				wantIPv6Ready(t, b.pod, "eth0", want)
				return
			}
			if bytes.Equal(placed.MAC, toCome) {
				t.Fatalf("MoveIn set the MAC %s it was only told is to come", toCome)
			}
			wantIPv6Ready(t, b.pod, "eth0", toCome)
		})
	}
}

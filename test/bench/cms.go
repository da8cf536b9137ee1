package bench

import (
	"context"
	"sync"

	"github.com/ovn-dpu/ovn-dpu/pkg/vifplug"
	"github.com/ovn-dpu/ovn-dpu/test/testbed"
)

// plugger is the CMS-side plug baseline: the best an external plugger
// can do. It watches SB (the recorder calls bindingAppeared from its
// Port_Binding monitor) and, the moment an expected port's binding
// appears, runs
//
//	ovs-vsctl --no-wait add-port br-int <veth> -- set Interface <veth> external_ids:iface-id=<lsp>
//
// Whatever is queued when it gets to run goes into one ovs-vsctl (one OVS
// transaction), as a good plugger would batch; unplugs (del-port) queue
// the same way. --no-wait: ovn-controller sees the Interface as soon as it
// is committed, and ovs-vswitchd's reconfiguration is what ovn-installed
// waits for anyway.
type plugger struct {
	bed   *testbed.Bed
	queue chan plugOp
	mu    sync.Mutex
	want  map[string]string // LSP → veth to plug once its binding appears
	err   error             // the last ovs-vsctl failure
	done  chan struct{}
}

type plugOp struct {
	lsp, iface string
	unplug     bool
}

func newPlugger(bed *testbed.Bed) *plugger {
	return &plugger{bed: bed, queue: make(chan plugOp, 4096), want: map[string]string{}, done: make(chan struct{})}
}

// expect arms the plug of iface for lsp; call it before the LSP is written.
func (p *plugger) expect(lsp, iface string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.want[lsp] = iface
}

// bindingAppeared is the recorder's hook; it never blocks for long (the
// queue holds more than any burst).
func (p *plugger) bindingAppeared(lsp string) {
	p.mu.Lock()
	iface, ok := p.want[lsp]
	delete(p.want, lsp)
	p.mu.Unlock()
	if ok {
		p.queue <- plugOp{lsp: lsp, iface: iface}
	}
}

// unplug queues the removal of iface from br-int.
func (p *plugger) unplug(iface string) { p.queue <- plugOp{iface: iface, unplug: true} }

func (p *plugger) lastErr() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.err
}

// run serves the queue until ctx ends.
func (p *plugger) run(ctx context.Context) {
	defer close(p.done)
	for {
		var batch []plugOp
		select {
		case <-ctx.Done():
			return
		case op := <-p.queue:
			batch = append(batch, op)
		}
	drain:
		for {
			select {
			case op := <-p.queue:
				batch = append(batch, op)
			default:
				break drain
			}
		}
		args := []string{"--no-wait"}
		for _, op := range batch {
			if op.unplug {
				args = append(args, "--", "--if-exists", "del-port", "br-int", op.iface)
			} else {
				args = append(args, "--", "add-port", "br-int", op.iface,
					"--", "set", "Interface", op.iface, "external_ids:"+vifplug.IfaceID+"="+op.lsp)
			}
		}
		if _, err := p.bed.VSCtl(ctx, args...); err != nil && ctx.Err() == nil {
			p.mu.Lock()
			p.err = err
			p.mu.Unlock()
		}
	}
}

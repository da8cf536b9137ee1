package testbed

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net"
	"slices"
	"strings"
)

// LSP is a logical switch port the way a CMS other than ovn-dpu writes
// one: a name and options (say, a plug request with garbage in it), no
// addresses, no ovn-dpu external_ids.
type LSP struct {
	Name    string
	Options map[string]string
}

// WriteLSPs creates ports on logicalSwitch (created when it does not
// exist) in OVSDB transactions of batch ports each (default 1000), sent
// straight to NB's unix socket as a CMS's OVSDB library does, and waits
// (up to 10 minutes) until northd has put them all in SB. Unlike
// ovn-nbctl runs, which grow slower as NB fills (10 000 ports in batches
// of 1000 took 22 s on a 2-core machine), a transaction costs what its
// ports do; all in one transaction is fastest (northd then handles them in
// one pass: 10 000 are in SB in about 5 s). Option values may be of any
// length (Linux caps a command-line argument at 128 KiB).
func (b *Bed) WriteLSPs(ctx context.Context, logicalSwitch string, ports []LSP, batch int) error {
	if batch <= 0 {
		batch = 1000
	}
	if _, err := b.NBCtl(ctx, "--may-exist", "ls-add", logicalSwitch); err != nil {
		return err
	}
	for chunk := range slices.Chunk(ports, batch) {
		if err := b.insertLSPs(ctx, logicalSwitch, chunk); err != nil {
			return err
		}
	}
	_, err := b.NBCtl(ctx, "--timeout=600", "--wait=sb", "sync")
	return err
}

// insertLSPs adds ports to logicalSwitch in one OVSDB transaction on NB's
// unix socket (the first one, when clustered: followers forward writes).
func (b *Bed) insertLSPs(ctx context.Context, logicalSwitch string, ports []LSP) error {
	what := fmt.Sprintf("insert %d ports from %s into %s", len(ports), ports[0].Name, logicalSwitch)
	remote := strings.Split(b.liveRemote(Northbound), ",")[0]
	path, ok := strings.CutPrefix(remote, "unix:")
	if !ok {
		return fmt.Errorf("%s: NB remote %s is not a unix socket", what, remote)
	}
	ops := []any{string(Northbound)}
	var refs []any
	for i, p := range ports {
		options := [][2]string{}
		for _, k := range slices.Sorted(maps.Keys(p.Options)) {
			options = append(options, [2]string{k, p.Options[k]})
		}
		ref := fmt.Sprintf("lsp%d", i)
		ops = append(ops, map[string]any{"op": "insert", "table": "Logical_Switch_Port", "uuid-name": ref,
			"row": map[string]any{"name": p.Name, "options": []any{"map", options}}})
		refs = append(refs, []any{"named-uuid", ref})
	}
	ops = append(ops, map[string]any{"op": "mutate", "table": "Logical_Switch",
		"where":     []any{[]any{"name", "==", logicalSwitch}},
		"mutations": []any{[]any{"ports", "insert", []any{"set", refs}}}})
	results, err := transact(ctx, path, ops)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	for _, r := range results {
		var res struct {
			Error   string `json:"error"`
			Details string `json:"details"`
			Count   *int   `json:"count"`
		}
		if err := json.Unmarshal(r, &res); err != nil {
			return fmt.Errorf("%s: result %s: %w", what, r, err)
		}
		if res.Error != "" {
			return fmt.Errorf("%s: %s: %s", what, res.Error, res.Details)
		}
		if res.Count != nil && *res.Count != 1 {
			return fmt.Errorf("%s: no such logical switch", what)
		}
	}
	if len(results) != len(ops)-1 {
		return fmt.Errorf("%s: %d results for %d operations", what, len(results), len(ops)-1)
	}
	return nil
}

// transact sends one OVSDB transact request (params: the database, then
// the operations) on the unix socket path and returns its results.
func transact(ctx context.Context, path string, params []any) ([]json.RawMessage, error) {
	conn, err := (&net.Dialer{}).DialContext(ctx, "unix", path)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	enc, dec := json.NewEncoder(conn), json.NewDecoder(conn)
	if err := enc.Encode(map[string]any{"method": "transact", "params": params, "id": "transact"}); err != nil {
		return nil, err
	}
	for {
		var msg struct {
			ID     any               `json:"id"`
			Method string            `json:"method"`
			Params json.RawMessage   `json:"params"`
			Result []json.RawMessage `json:"result"`
			Error  any               `json:"error"`
		}
		if err := dec.Decode(&msg); err != nil {
			return nil, errors.Join(err, ctx.Err())
		}
		switch {
		case msg.Method == "echo": // an inactivity probe
			if err := enc.Encode(map[string]any{"id": msg.ID, "result": msg.Params, "error": nil}); err != nil {
				return nil, err
			}
		case msg.ID != "transact":
		case msg.Error != nil:
			return nil, fmt.Errorf("%v", msg.Error)
		default:
			return msg.Result, nil
		}
	}
}

// Err is why the watcher's stream ended, nil while it runs.
func (w *Watcher) Err() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.err
}

package devlink

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
)

// jsonPort is one port object of `devlink -j port show`. Pointers tell an
// absent field from a zero one, which matters for the encoder only; unknown
// fields (roce, max_io_eqs, state, ...) are ignored.
type jsonPort struct {
	Type       string        `json:"type,omitempty"`
	Netdev     string        `json:"netdev,omitempty"`
	Flavour    string        `json:"flavour,omitempty"`
	Port       *uint32       `json:"port,omitempty"`
	Controller *uint32       `json:"controller,omitempty"`
	PFNum      *uint16       `json:"pfnum,omitempty"`
	VFNum      *uint16       `json:"vfnum,omitempty"`
	SFNum      *uint32       `json:"sfnum,omitempty"`
	External   *bool         `json:"external,omitempty"`
	Function   *jsonFunction `json:"function,omitempty"`
}

type jsonFunction struct {
	HWAddr *string `json:"hw_addr,omitempty"`
}

// ParseDump reads what `devlink -j port show` (or `-jp`) prints and returns
// the ports in listing order. Errors name the port key and field at fault.
func ParseDump(r io.Reader) ([]Port, error) {
	var top map[string]json.RawMessage
	dec := json.NewDecoder(r)
	if err := dec.Decode(&top); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, errors.New("devlink dump is empty")
		}
		return nil, fmt.Errorf("devlink dump is not a valid JSON object: %w", err)
	}
	// Two dumps glued together are as wrong as half a dump.
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errors.New("devlink dump has data after its JSON object")
	}
	raw, ok := top["port"]
	if !ok {
		return nil, errors.New(`devlink dump has no "port" object (is it "devlink -j port show" output?)`)
	}
	return parsePorts(raw)
}

// parsePorts walks the "port" object token by token because a Go map would
// lose the listing order, which callers and round trips rely on.
func parsePorts(raw json.RawMessage) ([]Port, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, fmt.Errorf(`devlink dump: "port" is not an object`)
	}
	var ports []Port
	seen := make(map[string]bool)
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, fmt.Errorf(`devlink dump: reading "port" keys: %w`, err)
		}
		key := tok.(string) // object keys are always strings
		if seen[key] {
			return nil, fmt.Errorf("devlink dump: port %q listed twice", key)
		}
		seen[key] = true
		var jp jsonPort
		if err := dec.Decode(&jp); err != nil {
			return nil, fmt.Errorf("devlink dump: port %q: %w", key, err)
		}
		p, err := jp.toPort(key)
		if err != nil {
			return nil, fmt.Errorf("devlink dump: port %q: %w", key, err)
		}
		ports = append(ports, p)
	}
	return ports, nil
}

func (jp jsonPort) toPort(key string) (Port, error) {
	device, index, err := splitHandle(key)
	if err != nil {
		return Port{}, err
	}
	p := Port{
		Device:     device,
		Index:      index,
		Type:       jp.Type,
		Netdev:     jp.Netdev,
		Flavour:    Flavour(jp.Flavour),
		Controller: deref(jp.Controller),
		PFNum:      deref(jp.PFNum),
		VFNum:      deref(jp.VFNum),
		SFNum:      deref(jp.SFNum),
		PortNumber: deref(jp.Port),
		External:   deref(jp.External),
	}
	if jp.Function != nil && jp.Function.HWAddr != nil && *jp.Function.HWAddr != "" {
		mac, err := net.ParseMAC(*jp.Function.HWAddr)
		if err != nil {
			return Port{}, fmt.Errorf("function.hw_addr %q: %w", *jp.Function.HWAddr, err)
		}
		p.HWAddr = mac
	}
	return p, nil
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

// EncodeDump renders ports as `devlink -j port show` does, in slice order,
// so test beds can write fixtures that ParseDump (and devlink users) read.
// Like devlink, it prints controller/pfnum/external only for PCI flavours,
// vfnum only for pcivf, sfnum only for pcisf and port only for the others —
// unless the value is non-zero, so no field of a Port is lost.
func EncodeDump(ports []Port) ([]byte, error) {
	var buf bytes.Buffer
	buf.WriteString(`{"port":{`)
	seen := make(map[string]bool, len(ports))
	for i, p := range ports {
		key := p.Handle()
		if _, _, err := splitHandle(key); err != nil {
			return nil, fmt.Errorf("encoding port %d: device %q: %w", i, p.Device, err)
		}
		if seen[key] {
			return nil, fmt.Errorf("encoding port %d: port %q listed twice", i, key)
		}
		seen[key] = true
		if i > 0 {
			buf.WriteByte(',')
		}
		if err := encodePort(&buf, key, p); err != nil {
			return nil, err
		}
	}
	buf.WriteString("}}\n")
	return buf.Bytes(), nil
}

func encodePort(buf *bytes.Buffer, key string, p Port) error {
	k, err := json.Marshal(key)
	if err != nil {
		return fmt.Errorf("encoding port %q: %w", key, err)
	}
	v, err := json.Marshal(fromPort(p))
	if err != nil {
		return fmt.Errorf("encoding port %q: %w", key, err)
	}
	buf.Write(k)
	buf.WriteByte(':')
	buf.Write(v)
	return nil
}

func fromPort(p Port) jsonPort {
	pci := p.Flavour.isPCI()
	jp := jsonPort{Type: p.Type, Netdev: p.Netdev, Flavour: string(p.Flavour)}
	jp.Port = ptrIf(!pci || p.PortNumber != 0, p.PortNumber)
	jp.Controller = ptrIf(pci || p.Controller != 0, p.Controller)
	jp.PFNum = ptrIf(pci || p.PFNum != 0, p.PFNum)
	jp.VFNum = ptrIf(p.Flavour == PCIVF || p.VFNum != 0, p.VFNum)
	jp.SFNum = ptrIf(p.Flavour == PCISF || p.SFNum != 0, p.SFNum)
	jp.External = ptrIf(pci || p.External, p.External)
	if p.HWAddr != nil {
		s := p.HWAddr.String()
		jp.Function = &jsonFunction{HWAddr: &s}
	}
	return jp
}

func ptrIf[T any](cond bool, v T) *T {
	if !cond {
		return nil
	}
	return &v
}

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/containernetworking/cni/pkg/skel"
	"github.com/containernetworking/cni/pkg/types"
	current "github.com/containernetworking/cni/pkg/types/100"
	"github.com/containernetworking/cni/pkg/types/create"

	"github.com/ovn-dpu/ovn-dpu/pkg/cniclient"
	"github.com/ovn-dpu/ovn-dpu/pkg/netconf"
	"github.com/ovn-dpu/ovn-dpu/pkg/sysfs"
	ovndpuv1 "github.com/ovn-dpu/ovn-dpu/proto/ovndpu/v1"
	"google.golang.org/protobuf/types/known/timestamppb"
)

type plugin struct {
	stdout, stderr io.Writer
	// cniVersion is the configuration's, once a verb has read it, so the
	// error object can carry it; skel's own early errors go without.
	cniVersion string
	// started is when the process started: the first stage of an ADD's
	// breakdown in the host agent.
	started time.Time
}

func (p *plugin) funcs() skel.CNIFuncs {
	// ADD's and CHECK's configs are checked whole before dialling: a config
	// that can never work is code 7 even while the host agent is down, not
	// 11, which would make the runtime retry it for ever. DEL, GC and
	// STATUS read only what forwarding needs, so a config ADD rejects still
	// reaches the agent, which undoes from its own records.
	return skel.CNIFuncs{
		Add:    p.verb("ADD", netconf.ParseAdd, p.added),
		Del:    p.verb("DEL", netconf.Parse, p.deleted),
		Check:  p.verb("CHECK", netconf.ParseCheck, nil),
		GC:     p.verb("GC", netconf.Parse, nil),
		Status: p.verb("STATUS", netconf.Parse, nil),
	}
}

// answered handles the agent's answer to a verb it accepted; a verb
// without one prints nothing (CHECK, GC and STATUS succeed silently, as
// the spec wants).
type answered func(args *skel.CmdArgs, conf *netconf.Config, result []byte) error

// verb parses and forwards one command. skel does not hand the command to
// the callbacks, so each callback carries its own.
func (p *plugin) verb(command string, parse func([]byte) (*netconf.Config, error), done answered) func(*skel.CmdArgs) error {
	return func(args *skel.CmdArgs) error {
		if v, err := create.DecodeVersion(args.StdinData); err == nil {
			p.cniVersion = v
		}
		conf, err := parse(args.StdinData)
		if err != nil {
			return err
		}
		result, err := p.forward(command, args, conf)
		if err != nil || done == nil {
			return err
		}
		return done(args, conf, result)
	}
}

func (p *plugin) forward(command string, args *skel.CmdArgs, conf *netconf.Config) ([]byte, error) {
	req := &ovndpuv1.CNIRequest{
		Command:     command,
		ContainerId: args.ContainerID,
		Netns:       args.Netns,
		Ifname:      args.IfName,
		Args:        args.Args,
		Path:        args.Path,
		Config:      args.StdinData,
	}
	if !p.started.IsZero() {
		req.PluginStarted = timestamppb.New(p.started)
	}
	return cniclient.Forward(context.Background(), conf.AgentSocket, req)
}

// added records the device information and prints the result.
func (p *plugin) added(args *skel.CmdArgs, conf *netconf.Config, result []byte) error {
	if len(result) == 0 {
		return types.NewError(types.ErrInternal,
			fmt.Sprintf("the ovn-dpu host agent on %s answered ADD without a result", conf.AgentSocket), "")
	}
	res, err := decodeResult(result, conf)
	if err != nil {
		return err
	}
	if err := p.recordDevice(args, conf, res); err != nil {
		return err
	}
	return p.printResult(res, conf)
}

// recordDevice writes the device information file runtimeConfig asks for.
//
// A file that cannot be written fails the ADD (code 5) rather than being
// skipped: the runtime asked for the capability, and a pod whose
// network-status silently lacks its device-info is harder to diagnose
// than a failed, retried ADD. A failed ADD must not leave the VF and the
// LSP behind, though: the spec wants the runtime to DEL after it, but
// cnitool does not, and neither does a runtime that dies in between. So
// the plugin undoes the attachment itself before answering, with the
// agent's DEL, which works from the agent's own records and makes a later
// DEL by the runtime a no-op.
func (p *plugin) recordDevice(args *skel.CmdArgs, conf *netconf.Config, res *current.Result) error {
	if conf.DeviceInfoFile == "" {
		return nil
	}
	if sysfs.IsAuxiliaryDevice(conf.DeviceID) {
		// An SF: the device information spec (1.1.0) has no type for an
		// auxiliary device, and the SR-IOV device plugin writes no record
		// for its auxNetDevice resources either; a "pci" record naming the
		// parent PF would say the pod has the PF.
		return nil
	}
	addr, err := deviceAddress(res, args.IfName, conf.DeviceID)
	if err == nil {
		err = saveDeviceInfo(conf.DeviceInfoFile, addr)
	}
	if err == nil {
		return nil
	}
	details := "the attachment was undone"
	if _, delErr := p.forward("DEL", args, conf); delErr != nil {
		details = "undoing the attachment failed too, so it stays until the runtime's DEL: " + delErr.Error()
	}
	return types.NewError(types.ErrIOFailure, fmt.Sprintf(
		"writing the device information file %s (runtimeConfig.CNIDeviceInfoFile): %v", conf.DeviceInfoFile, err), details)
}

// deleted removes the device information file once the agent has
// detached; a failed DEL keeps it, since it still describes an attachment
// the runtime will DEL again. A file that cannot be removed only warns:
// the attachment is gone, Multus deletes the file too, and a DEL that can
// never succeed would wedge the runtime's cleanup.
func (p *plugin) deleted(_ *skel.CmdArgs, conf *netconf.Config, _ []byte) error {
	if conf.DeviceInfoFile == "" {
		return nil
	}
	if err := removeDeviceInfo(conf.DeviceInfoFile); err != nil {
		_, _ = fmt.Fprintf(p.stderr, "ovn-dpu-cni: DEL could not remove the device information file %s: %v\n",
			conf.DeviceInfoFile, err)
	}
	return nil
}

// decodeResult reads the agent's result, in whatever version its encoder
// used, as the current result type.
func decodeResult(result []byte, conf *netconf.Config) (*current.Result, error) {
	invalid := func(err error) error {
		return types.NewError(types.ErrInternal,
			fmt.Sprintf("the ovn-dpu host agent on %s answered an invalid CNI result", conf.AgentSocket), err.Error())
	}
	var v struct {
		CNIVersion string `json:"cniVersion"`
	}
	if err := json.Unmarshal(result, &v); err != nil {
		return nil, invalid(err)
	}
	if v.CNIVersion == "" {
		v.CNIVersion = conf.CNIVersion
	}
	r, err := create.Create(v.CNIVersion, result)
	if err != nil {
		return nil, invalid(err)
	}
	res, err := current.NewResultFromResult(r)
	if err != nil {
		return nil, invalid(err)
	}
	return res, nil
}

// printResult prints res in the configuration's cniVersion, so a runtime
// always reads a canonical result of the version it asked for, whatever
// the agent's encoder did.
func (p *plugin) printResult(res *current.Result, conf *netconf.Config) error {
	r, err := res.GetAsVersion(conf.CNIVersion)
	if err != nil {
		return types.NewError(types.ErrInternal,
			fmt.Sprintf("the result of the ovn-dpu host agent on %s has no cniVersion %s form", conf.AgentSocket, conf.CNIVersion), err.Error())
	}
	if err := r.PrintTo(p.stdout); err != nil {
		return types.NewError(types.ErrIOFailure, "writing the result to stdout", err.Error())
	}
	return nil
}

// printError writes the spec's error object: skel's fields plus cniVersion.
func (p *plugin) printError(e *types.Error) error {
	out, err := json.MarshalIndent(struct {
		CNIVersion string `json:"cniVersion,omitempty"`
		*types.Error
	}{p.cniVersion, e}, "", "    ")
	if err != nil {
		return err
	}
	_, err = p.stdout.Write(out)
	return err
}

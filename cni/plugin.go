package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"

	"github.com/containernetworking/cni/pkg/skel"
	"github.com/containernetworking/cni/pkg/types"
	"github.com/containernetworking/cni/pkg/types/create"

	"github.com/ovn-dpu/ovn-dpu/pkg/cniclient"
	"github.com/ovn-dpu/ovn-dpu/pkg/netconf"
	ovndpuv1 "github.com/ovn-dpu/ovn-dpu/proto/ovndpu/v1"
)

type plugin struct {
	stdout io.Writer
	// cniVersion is the configuration's, once a verb has read it, so the
	// error object can carry it; skel's own early errors go without.
	cniVersion string
}

func (p *plugin) funcs() skel.CNIFuncs {
	return skel.CNIFuncs{
		Add:    p.verb("ADD", true),
		Del:    p.verb("DEL", false),
		Check:  p.verb("CHECK", true),
		GC:     p.verb("GC", false),
		Status: p.verb("STATUS", false),
	}
}

// verb forwards one command. skel does not hand the command to the
// callbacks, so each callback carries its own.
func (p *plugin) verb(command string, printsResult bool) func(*skel.CmdArgs) error {
	return func(args *skel.CmdArgs) error {
		if v, err := create.DecodeVersion(args.StdinData); err == nil {
			p.cniVersion = v
		}
		// ADD's config is checked whole before dialling: a config that can
		// never work is code 7 even while the host agent is down, not 11,
		// which would make the runtime retry it for ever.
		parse := netconf.Parse
		if command == "ADD" {
			parse = netconf.ParseAdd
		}
		conf, err := parse(args.StdinData)
		if err != nil {
			return err
		}
		result, err := cniclient.Forward(context.Background(), conf.AgentSocket, &ovndpuv1.CNIRequest{
			Command:     command,
			ContainerId: args.ContainerID,
			Netns:       args.Netns,
			Ifname:      args.IfName,
			Args:        args.Args,
			Path:        args.Path,
			Config:      args.StdinData,
		})
		if err != nil {
			return err
		}
		switch {
		case !printsResult:
			return nil
		case len(result) == 0 && command == "ADD":
			return types.NewError(types.ErrInternal,
				fmt.Sprintf("the ovn-dpu host agent on %s answered ADD without a result", conf.AgentSocket), "")
		case len(result) == 0:
			// CHECK succeeds silently, as the spec wants.
			return nil
		}
		return p.printResult(result, conf)
	}
}

// printResult re-encodes the agent's result in the configuration's
// cniVersion, so a runtime always reads a canonical result of the version
// it asked for, whatever the agent's encoder did.
func (p *plugin) printResult(result []byte, conf *netconf.Config) error {
	invalid := func(err error) error {
		return types.NewError(types.ErrInternal,
			fmt.Sprintf("the ovn-dpu host agent on %s answered an invalid CNI result", conf.AgentSocket), err.Error())
	}
	var v struct {
		CNIVersion string `json:"cniVersion"`
	}
	if err := json.Unmarshal(result, &v); err != nil {
		return invalid(err)
	}
	if v.CNIVersion == "" {
		v.CNIVersion = conf.CNIVersion
	}
	r, err := create.Create(v.CNIVersion, result)
	if err != nil {
		return invalid(err)
	}
	r, err = r.GetAsVersion(conf.CNIVersion)
	if err != nil {
		return invalid(err)
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

package hostagent

import (
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"strconv"
	"time"

	"github.com/containernetworking/cni/pkg/types"
	"google.golang.org/grpc"

	"github.com/ovn-dpu/ovn-dpu/pkg/ipam"
	"github.com/ovn-dpu/ovn-dpu/pkg/netconf"

	ovndpuv1 "github.com/ovn-dpu/ovn-dpu/proto/ovndpu/v1"
)

// CNI codes of our own (docs/contract.md).
const (
	codeRejected     = 100 // the DPU reported ERROR
	codeNotReady     = 101 // not READY within timeoutSeconds
	codeVFLookup     = 102 // deviceID is not a usable VF
	codeCheckFailed  = 103 // CHECK: the attachment differs from prevResult
	codeStatusFailed = types.ErrPluginNotAvailable
)

// CNI serves one forwarded CNI request.
func (a *Agent) CNI(ctx context.Context, req *ovndpuv1.CNIRequest) (*ovndpuv1.CNIResponse, error) {
	start := time.Now()
	log := a.log.With("command", req.Command, "container_id", req.ContainerId, "ifname", req.Ifname)
	result, err := a.dispatch(ctx, req, log)
	a.metrics.duration.WithLabelValues(req.Command).Observe(time.Since(start).Seconds())
	if err != nil {
		cniErr := asCNIError(err)
		a.metrics.requests.WithLabelValues(req.Command, strconv.Itoa(int(cniErr.Code))).Inc()
		log.Error("CNI request failed", "code", cniErr.Code, "msg", cniErr.Msg, "details", cniErr.Details, "duration", time.Since(start))
		return &ovndpuv1.CNIResponse{Error: &ovndpuv1.CNIError{Code: uint32(cniErr.Code), Msg: cniErr.Msg, Details: cniErr.Details}}, nil
	}
	a.metrics.requests.WithLabelValues(req.Command, "0").Inc()
	log.Info("CNI request done", "duration", time.Since(start))
	return &ovndpuv1.CNIResponse{Result: result}, nil
}

func (a *Agent) dispatch(ctx context.Context, req *ovndpuv1.CNIRequest, log *slog.Logger) ([]byte, error) {
	switch req.Command {
	case "ADD", "DEL", "CHECK", "GC", "STATUS":
		// The plugin checked the same before dialling; a caller of the
		// socket other than ovn-dpu-cni gets the same answers.
		if err := netconf.CheckEnvelope(req.Config); err != nil {
			return nil, err
		}
	}
	switch req.Command {
	case "ADD":
		return a.add(ctx, req, log)
	case "DEL":
		return nil, a.del(ctx, req, log)
	case "CHECK":
		return nil, a.check(ctx, req, log)
	case "GC":
		return nil, a.gc(ctx, req, log)
	case "STATUS":
		return nil, a.status(ctx, req)
	default:
		return nil, types.NewError(types.ErrInvalidEnvironmentVariables, "unknown CNI_COMMAND "+req.Command, "")
	}
}

// statusTimeout bounds STATUS's questions to the DPU agent and the IPAM
// delegate: a runtime polls STATUS and must get an answer.
const statusTimeout = 5 * time.Second

// status answers STATUS: 50 unless NB and the DPU agent are connected,
// the DPU's chassis is registered in SB and the IPAM delegate (if any)
// reports itself ready; the message names what is not.
func (a *Agent) status(ctx context.Context, req *ovndpuv1.CNIRequest) error {
	notReady := func(what string, err error) error {
		return types.NewError(codeStatusFailed, "ovn-dpu cannot attach pods now: "+what, err.Error())
	}
	if err := a.Ready(); err != nil {
		return notReady("OVN NB or the DPU agent is not connected", err)
	}
	ctx, cancel := context.WithTimeout(ctx, statusTimeout)
	defer cancel()
	if err := a.dpus.registered(ctx); err != nil {
		return notReady("the DPU chassis is not registered in OVN SB", err)
	}
	ipamType, err := netconf.IPAMType(req.Config)
	if err != nil {
		return err
	}
	if ipamType != "" {
		r := ipam.Request{PluginType: ipamType, NetConf: req.Config, Path: filepath.SplitList(req.Path)}
		if err := a.ipam.Status(ctx, r); err != nil {
			return notReady("the IPAM plugin "+ipamType+" is not ready", err)
		}
	}
	return nil
}

// MaxRequestBytes bounds one gRPC request the host agent reads: the
// network configuration (netconf.MaxConfigBytes) and the CNI_* strings
// beside it, each of which the kernel limits to 128 KiB in an
// environment. Larger requests are refused by gRPC (ResourceExhausted)
// before they are decoded.
const MaxRequestBytes = netconf.MaxConfigBytes + 1<<20

// ServerOptions are the gRPC server options the host agent's socket is
// served with.
func ServerOptions() []grpc.ServerOption {
	return []grpc.ServerOption{grpc.MaxRecvMsgSize(MaxRequestBytes)}
}

// asCNIError keeps CNI errors as they are and makes any other error a
// generic internal one (code 999, as the spec reserves for "other").
func asCNIError(err error) *types.Error {
	var cniErr *types.Error
	if errors.As(err, &cniErr) {
		return cniErr
	}
	return types.NewError(types.ErrInternal, err.Error(), "")
}

// Package dpuagent is the DPU side of ovn-dpu: it watches the Southbound
// Port_Bindings requested for its chassis with vif-plug-type=representor,
// finds each representor in the devlink table, plugs it into the
// integration bridge of the local Open vSwitch, and publishes every port's
// status (PENDING, PLUGGED, READY, ERROR, UNPLUGGED) for the gRPC API.
//
// It is level-triggered: each pass compares what the databases ask for with
// what OVS holds and writes only the difference, in as few transactions as
// it can. A pass with nothing to change writes nothing, so restarts and
// reconnects are free.
package dpuagent

package sbdb

// The schema file beside this one is copied from the Debian package (OVN
// 23.03 / OVS 3.1), the oldest release we support; newer servers add columns
// we simply do not use.
//go:generate go tool modelgen -p sbdb -o . ovn-sb.ovsschema

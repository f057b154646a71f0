# Integration: t_pg_partition.sh with the partition made by dropping every
# packet on both ends of the veth (`tc qdisc ... netem loss 100%`) instead
# of taking the link down; see that script for what is checked.
PARTITION_CUT=loss exec bash "${CMSCTL_SOURCE_DIR:?CMSCTL_SOURCE_DIR must name the source tree}/tests/integration/t_pg_partition.sh"

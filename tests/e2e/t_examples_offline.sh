#!/usr/bin/env bash
# Every example plans --offline into a readable plan; the mssql example,
# once recorded, shows the seed's Example 1 (-BackupSqlServerFqdn
# redmond-cs-001 -BackupSqlInstanceName RTC -Force) as a disaster-recovery
# plan, and refuses it without allow_data_loss (the -Force).
. "${CMSCTL_SOURCE_DIR:?set CMSCTL_SOURCE_DIR (run under ctest)}/tests/e2e/lib.sh" || exit 1
export CMS_POOL_A_PASSWORD=x CMS_SQL_PASSWORD=x
for ex in quickstart postgresql mssql; do
	run 0 "$CMSCTL" plan --offline -c "$SRC/examples/$ex/cms.yaml"
	contains out "made --offline: no server was probed"
	contains out "Plan id: "
done

# A state in which store redmond was recorded on the principal.
quickstart
run 0 "$CMSCTL" plan -o adopt.plan
run 0 "$CMSCTL" apply adopt.plan
sql .cmsctl/state.db "UPDATE stores SET primary_server = 'redmond-sql-a', mirror_server = 'redmond-sql-b'"
cp "$SRC/examples/mssql/cms.yaml" ms.yaml
sed -i 's/primary: redmond-sql-a/primary: redmond-cs-001/; /mirror: redmond-sql-b/d' ms.yaml
run 7 "$CMSCTL" plan --offline -c ms.yaml
contains err "disaster-recovery of store 'redmond' to 'redmond-cs-001' may lose data"
sed -i 's/allow_data_loss: false/allow_data_loss: true/' ms.yaml
run 0 "$CMSCTL" plan --offline -c ms.yaml
contains out "Plan for store redmond (engine mssql): disaster-recovery"
contains out "promote      promote redmond-cs-001, database by database (forced: may lose data)"
# Failover to the mirror partner (-BackupMirrorSqlServerFqdn): a switchover.
cp "$SRC/examples/mssql/cms.yaml" ms2.yaml
sed -i 's/primary: redmond-sql-a/primary: redmond-sql-b/; s/mirror: redmond-sql-b/mirror: redmond-sql-a/' ms2.yaml
run 0 "$CMSCTL" plan --offline -c ms2.yaml
contains out "Plan for store redmond (engine mssql): switchover"
finish

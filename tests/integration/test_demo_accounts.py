"""`chibo demo`'s accounts: an administrator on the first start, one account per role
on the sample, written to a 0600 file; a later start only says where the file is."""

from __future__ import annotations

import stat

from nameko.standalone.rpc import ClusterRpcProxy

from services.demo import accounts_file, open_admin, open_sample_accounts
from tests.support import TODAY, as_caller, embedded_config, running, two_cells_of_three


def test_demo_accounts(tmp_path, capsys):
    config = embedded_config(tmp_path)
    base = f"http://{config['WEB_SERVER_ADDRESS']}"
    with running(config), ClusterRpcProxy(config, context_data=as_caller()) as rpc:
        assert open_admin(config, base) is True
        path = accounts_file(config)
        assert path == tmp_path / "demo-accounts.txt"
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        first = capsys.readouterr().out
        assert f"{base}/login" in first
        [admin_line] = [line for line in path.read_text(encoding="utf-8").splitlines()
                        if line.startswith("admin\t")]
        password = admin_line.split("\t")[1]
        assert password in first
        with ClusterRpcProxy(config) as anonymous:
            signed = anonymous.members.authenticate("admin", password, None, "session")
        assert signed["identity"]["grants"] == [["admin", None, "2000-01-01", None]]

        two_cells_of_three(rpc, "Lò Văn Pọm")
        rpc.members.assign_role({"cell_id": "c1", "member_id": "c1-0", "role": "secretary",
                                 "term_from": "2024-01-01"})
        open_sample_accounts(config, base, TODAY)
        text = path.read_text(encoding="utf-8")
        assert "demo only" in text
        logins = {line.split("\t")[0]: line.split("\t")[1] for line in text.splitlines()
                  if "\t" in line}
        assert set(logins) == {"admin", "canbo", "giamsat", "bithu", "kiemtra", "xem"}
        with ClusterRpcProxy(config) as anonymous:
            secretary = anonymous.members.authenticate("bithu", logins["bithu"], None, "api")
            staff = anonymous.members.authenticate("canbo", logins["canbo"], None, "api")
        assert secretary["identity"]["grants"] == [["secretary", "c1", "2024-01-01", None]]
        assert [g[:2] for g in staff["identity"]["grants"]] == [["staff", "x"]]

        capsys.readouterr()
        assert open_admin(config, base) is False
        assert str(path) in capsys.readouterr().out

"""The runtime_env a submitted job gets, by where the cluster runs."""

from __future__ import annotations

from pathlib import Path

from provisioner.jobs.runtime_env import DEFAULT_EXCLUDES, build_runtime_env, package_dir


def test_remote_cluster_gets_an_upload_with_excludes_and_the_runtime_package(tmp_path: Path) -> None:
    env = build_runtime_env(tmp_path, {"A": "1"}, ["data/"], "s3://b/p", "c1")
    assert env["working_dir"] == str(tmp_path)
    assert env["excludes"] == DEFAULT_EXCLUDES + ["data/"]
    # The runtime and the contract it shares with rlcloud: all a node needs of ours.
    assert env["py_modules"] == [str(package_dir("runtime")), str(package_dir("rlcloud_contract"))]
    assert (Path(env["py_modules"][1]) / "storage_uri.py").is_file()
    assert env["env_vars"] == {"RLCLOUD_CLUSTER": "c1", "RLCLOUD_CHECKPOINT_URI": "s3://b/p", "A": "1"}


def test_working_dir_with_its_own_packages_ships_no_second_copy(tmp_path: Path) -> None:
    (tmp_path / "runtime").mkdir()
    (tmp_path / "runtime" / "__init__.py").write_text("")
    assert build_runtime_env(tmp_path, {}, [], None, None)["py_modules"] == [str(package_dir("rlcloud_contract"))]
    (tmp_path / "rlcloud_contract").mkdir()
    (tmp_path / "rlcloud_contract" / "__init__.py").write_text("")
    assert "py_modules" not in build_runtime_env(tmp_path, {}, [], None, None)


def test_user_env_overrides_rlcloud_env(tmp_path: Path) -> None:
    env = build_runtime_env(tmp_path, {"RLCLOUD_CHECKPOINT_URI": "s3://mine/x"}, [], "s3://b/p", None)
    assert env["env_vars"]["RLCLOUD_CHECKPOINT_URI"] == "s3://mine/x"


def test_same_machine_cluster_runs_in_place(tmp_path: Path) -> None:
    env = build_runtime_env(tmp_path, {}, ["x"], None, "c1", same_filesystem=True)
    assert env == {"working_dir": f"local://{tmp_path}", "env_vars": {"RLCLOUD_CLUSTER": "c1"}}

"""A worker's sessions share their cores: no spinning pool threads, threads chosen on purpose."""

from models.inference.sessions import (
    session_options,
    shared_process_threads,
    usable_cores,
)


def test_a_process_that_shares_its_cores_never_spins():
    options = session_options(shares_cores=True)
    assert options.get_session_config_entry("session.intra_op.allow_spinning") == "0"
    assert options.get_session_config_entry("session.inter_op.allow_spinning") == "0"
    assert options.intra_op_num_threads == shared_process_threads() == max(1, usable_cores() // 2)


def test_an_explicit_thread_count_wins_and_offline_sessions_keep_every_core():
    assert session_options(3, shares_cores=True).intra_op_num_threads == 3
    offline = session_options()
    assert offline.intra_op_num_threads == usable_cores()
    try:  # ORT raises on an entry never set: the default (spinning) applies
        spinning = offline.get_session_config_entry("session.intra_op.allow_spinning")
    except Exception:
        spinning = None
    assert spinning in (None, "1")

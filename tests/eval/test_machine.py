"""The CPU features `rag bench` names beside its figures."""

from eval.machine import cpu_features, cpu_name

EPYC = """processor\t: 0
model name\t: AMD EPYC 9B14
flags\t\t: fpu sse2 avx2 avx512f avx512_vnni avx512_bf16 avx512vl
"""
XEON = "model name\t: Intel(R) Xeon(R) Platinum 8481C\nflags\t\t: avx2 avx512f avx_vnni amx_bf16 amx_tile amx_int8\n"


def test_features_are_named_from_the_flags():
    assert cpu_name(EPYC) == "AMD EPYC 9B14"
    assert cpu_features(EPYC) == ["AVX2", "AVX-512", "VNNI", "BF16"]
    assert cpu_features(XEON) == ["AVX2", "AVX-512", "VNNI", "BF16", "AMX"]
    assert cpu_features("flags\t: sse2 sse4_2\n") == [] and cpu_features("") == []


def test_this_machine_is_described():
    assert cpu_name() and isinstance(cpu_features(), list)

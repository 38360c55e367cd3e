"""The contracts the emulators load at run time are byte-for-byte the vendors' files in shared/reference."""

from aiq_emulators.accountsiq.contract import WSDL_PATH
from aiq_emulators.bunny.schema import SDL_PATH
from aiq_pipeline_tests.reference import reference_file


def test_vendored_wsdl_is_the_vendors():
    assert WSDL_PATH.read_bytes() == reference_file("accountsiq/integration_2_0.wsdl").read_bytes()


def test_vendored_sdl_is_bunnys():
    assert SDL_PATH.read_bytes() == reference_file("bunny/schema.graphql").read_bytes()

"""What a template sees of the channel it renders for (``channel`` in its context)."""

from __future__ import annotations

import dataclasses

from erralert.channels import DIALECTS
from erralert.channels.base import LengthUnit

__all__ = ["ChannelInfo"]


@dataclasses.dataclass(frozen=True, slots=True)
class ChannelInfo:
    """What a template sees of the channel it renders for (``channel`` in the context)."""

    platform: str
    name: str
    max_length: int
    length_unit: LengthUnit
    dialect: str

    @property
    def code_spans(self) -> bool:
        """Whether the platform shows inline code spans (``|code_span`` makes one)."""
        dialect = DIALECTS.get(self.dialect)
        return dialect is not None and dialect.has_code_spans

    @property
    def code_blocks(self) -> bool:
        """Whether the platform shows code blocks (``|code_block`` makes one); elsewhere
        ``|code_block`` writes each line as a code span or as escaped text."""
        dialect = DIALECTS.get(self.dialect)
        return dialect is not None and dialect.has_code_blocks

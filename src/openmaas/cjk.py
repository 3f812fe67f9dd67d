"""Which script a text is in: the character classes every language check shares."""

from __future__ import annotations

import re

# Chinese characters: CJK unified ideographs, extension A, compatibility ideographs
HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
# East Asian scripts a whitespace word count misjudges: Han, kana, hangul, fullwidth forms
CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff\uff00-\uffef]")

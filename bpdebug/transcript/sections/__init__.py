"""The sections of a worked example, in the order a transcript writes them: the setting (:mod:`.setting`), the
epochs (:mod:`.passes`) and the results (:mod:`.results`)."""

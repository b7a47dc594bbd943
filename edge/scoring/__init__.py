"""Scoring: joint angles -> worksheet answers -> REBA/RULA per frame (`methods`, shared by both scorers), for whole
recordings (`offline`, with its `summary`) and one frame at a time (`stream`), and the files a scored recording is
written to (`outputs`)."""

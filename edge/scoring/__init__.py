"""Scoring: joint angles -> worksheet answers -> REBA/RULA/L5-S1 per frame, for whole recordings (`offline`) and one
frame at a time (`stream`), the REBA risk bands, and the files a scored recording is written to (`outputs`)."""

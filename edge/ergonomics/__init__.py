"""The ergonomic methods: REBA, RULA, the revised NIOSH lifting equation, L5/S1 load, activity terms, the worksheet
front end, what REBA and RULA share (`worksheet_fields`), and the published tables they read (`tables`)."""

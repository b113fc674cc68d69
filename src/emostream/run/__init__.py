"""``emostream run``: the whole pipeline in one command, on an embedded Redis if none is configured.

``pipeline`` starts and stops the roles, ``live`` prints events as they come,
``report`` the summary at the end. It sits above every role, since it starts
them all.
"""

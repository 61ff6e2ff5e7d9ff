"""Safe HTML from the chat platforms' markups: Slack mrkdwn, the markdown family (Discord,
Mattermost, Rocket.Chat, DingTalk, WeCom, Feishu's lark_md, Teams), and the HTML subsets of
Telegram and Google Chat cards.

Everything a payload holds is untrusted. Text is always escaped; the only tags in the
output are the ones written here; a link is made only of an http(s) URL, with
``rel="noopener noreferrer nofollow"``; colours come from fixed tables or a strict
``#rrggbb`` pattern. Nothing of the input is ever passed through as HTML.

``safe`` makes those pieces; ``mrkdwn``, ``markdown`` and ``tags`` (the HTML subsets) read
the markups with them.
"""

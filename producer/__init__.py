"""The producer: simulates customer sign-ups by publishing randomuser.me users to Pub/Sub.

It runs anywhere (on-prem included) as a small image without Beam; the message contract it
honours lives in the shared `contract` package.
"""

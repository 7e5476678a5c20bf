{{ config(materialized='ephemeral') }}
select 'o-' || range as order_id, 'Purchase' as event_name,
       now() - interval 1 hour as event_time, 'website' as action_source,
       'user' || range || '@example.com' as email, 10.5 as value, 'USD' as currency,
       'https://shop.example/checkout' as event_source_url, 'Mozilla/5.0' as client_user_agent
from range(25)

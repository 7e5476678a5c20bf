{{ config(materialized='view', alias='orders_v', schema='marts') }}
select * from {{ ref('orders_capi') }}
